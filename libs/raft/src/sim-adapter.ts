import type { ConsensusEngine, DurableState, NodeId } from '@synod/replog';
import { RaftNode } from './raft.js';
import type { Entry, HardState, RaftMessage, RaftOptions } from './types.js';

const dec = new TextDecoder();

/**
 * Raft as the simulator drives it: how to build a node, and Raft's own invariants (§5.2 election
 * safety is checked by the simulator for every engine):
 * - log matching (§5.3): two logs holding an entry with the same index and term agree on it and on
 *   everything before it;
 * - leader completeness (§5.4): a new leader holds every entry committed before its term;
 * - state machine safety (§5.4.3): no two nodes commit different entries at one index;
 * - a node's commit index never goes back.
 *
 * Structurally a `SimEngine` of @synod/testkit, without depending on it.
 */
export function raftSimEngine(overrides: Partial<RaftOptions> = {}, make: (o: RaftOptions, d?: DurableState<Entry, HardState>) => RaftNode = (o, d) => new RaftNode(o, d)) {
  return {
    name: 'raft',
    create(opts: { id: NodeId; members: NodeId[]; random: () => number; durable?: DurableState<Entry, HardState> }): RaftNode {
      return make(
        {
          id: opts.id,
          initialMembership: { voters: opts.members, learners: [] },
          random: opts.random,
          electionTicks: 10,
          heartbeatTicks: 1,
          maxMsgBytes: 4096,
          snapshotChunkBytes: 256,
          snapshotTrailingEntries: 20,
          ...overrides,
        },
        opts.durable,
      );
    },
    checkInvariants(engines: ReadonlyMap<NodeId, ConsensusEngine<RaftMessage, Entry, HardState>>, state: Map<string, unknown>): string | undefined {
      const committed = getOr(state, 'committed', () => new Map<number, { term: number; data: string }>());
      const commitSeen = getOr(state, 'commitSeen', () => new WeakMap<RaftNode, number>());
      const leadersChecked = getOr(state, 'leadersChecked', () => new Set<string>());
      const nodes = [...engines.values()] as RaftNode[];
      for (const n of nodes) {
        const log = n.log;
        const before = commitSeen.get(n) ?? 0;
        if (log.committed < before) return `${n.id}'s commit index went back from ${before} to ${log.committed}`;
        commitSeen.set(n, log.committed);
        for (let i = Math.max(before + 1, log.offset + 1); i <= log.committed; i++) {
          const e = log.entry(i)!;
          const known = committed.get(i);
          const data = dec.decode(e.data);
          if (!known) committed.set(i, { term: e.term, data });
          else if (known.term !== e.term || known.data !== data) {
            return `state machine safety: ${n.id} committed (term ${e.term}) ${JSON.stringify(data)} at ${i}, earlier commit there was (term ${known.term}) ${JSON.stringify(known.data)}`;
          }
        }
        if (n.role === 'leader' && !leadersChecked.has(`${n.id}@${n.term}`)) {
          leadersChecked.add(`${n.id}@${n.term}`);
          for (const [i, c] of committed) {
            if (i <= log.offset || c.term >= n.term) continue;
            const t = log.term(i);
            if (t !== c.term) return `leader completeness: ${n.id} leads term ${n.term} without committed entry ${i} (term ${c.term}); it has term ${t ?? 'none'} there`;
          }
        }
      }
      // Log matching across every pair, from the highest index both hold with the same term down.
      for (let a = 0; a < nodes.length; a++) {
        for (let b = a + 1; b < nodes.length; b++) {
          const x = nodes[a]!.log;
          const y = nodes[b]!.log;
          const lo = Math.max(x.offset, y.offset) + 1;
          let top = Math.min(x.lastIndex(), y.lastIndex());
          while (top >= lo && x.term(top) !== y.term(top)) top--;
          for (let i = top; i >= lo; i--) {
            const ex = x.entry(i)!;
            const ey = y.entry(i)!;
            if (ex.term !== ey.term || ex.type !== ey.type || !sameBytes(ex.data, ey.data)) {
              return `log matching: ${nodes[a]!.id} and ${nodes[b]!.id} agree at index ${top} but differ at ${i}`;
            }
          }
        }
      }
      return undefined;
    },
    describe(m: RaftMessage): string {
      switch (m.type) {
        case 'app':
          return `app t${m.term} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
        case 'appResp':
          return `appResp t${m.term} ${m.reject ? `reject ${m.index} hint ${m.hint}` : `ok ${m.index}`}`;
        case 'snap':
          return `snap t${m.term} @${m.snapshot.index} off=${m.offset}${m.done ? ' done' : ''}`;
        default:
          return `${m.type} t${m.term}`;
      }
    },
  };
}

function getOr<T>(state: Map<string, unknown>, key: string, make: () => T): T {
  let v = state.get(key) as T | undefined;
  if (v === undefined) {
    v = make();
    state.set(key, v);
  }
  return v;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
