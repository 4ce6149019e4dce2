import type { Membership, NodeId } from './engine.js';

/**
 * Quorums over one configuration (a majority of its voters) or several at once (a majority of
 * each: joint consensus, or Multi-Paxos's configurations still deciding open slots). Raft passes
 * one configuration, Paxos every active one; the rules are the same.
 */

/** The highest value that a majority of `voters` reached, each voter's value given by `of`; 0 with no voters. */
export function majorityValue(voters: readonly NodeId[], of: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  // Descending; a comparison rather than a difference, which -Infinity (never heard from) turns into NaN.
  const values = voters.map(of).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  return values[Math.floor(values.length / 2)]!;
}

/** The highest value a majority of every configuration reached (the smallest of their majority values). */
export function jointValue(configs: readonly Membership[], of: (id: NodeId) => number): number {
  let v = Infinity;
  for (const c of configs) v = Math.min(v, majorityValue(c.voters, of));
  return v === Infinity ? 0 : v;
}

/** True when a majority of the voters of every configuration satisfies `yes`. */
export function hasQuorum(configs: readonly Membership[], yes: (id: NodeId) => boolean): boolean {
  return configs.every((c) => {
    let n = 0;
    for (const id of c.voters) if (yes(id)) n++;
    return n > c.voters.length / 2;
  });
}

/**
 * Where a vote stands: `won` once a quorum granted, `lost` once a quorum can no longer grant (it
 * refused), else `pending`. `votes` maps a voter to its answer; absent voters have not answered.
 */
export function voteResult(configs: readonly Membership[], votes: ReadonlyMap<NodeId, boolean>): 'won' | 'lost' | 'pending' {
  if (hasQuorum(configs, (id) => votes.get(id) === true)) return 'won';
  if (!hasQuorum(configs, (id) => votes.get(id) !== false)) return 'lost';
  return 'pending';
}

/** Every voter of any of `configs`. */
export function votersOf(configs: readonly Membership[]): Set<NodeId> {
  const all = new Set<NodeId>();
  for (const c of configs) for (const v of c.voters) all.add(v);
  return all;
}
