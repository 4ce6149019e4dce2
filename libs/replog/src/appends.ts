import type { NodeId } from './engine.js';

/** The fields a replication message of any engine has (Raft's append, Paxos's accept). */
export interface AppendLike {
  to: NodeId;
  /** The entries follow this index. */
  prevIndex: number;
  entries: readonly { data: Uint8Array }[];
  /** The leader's commit index. */
  commit: number;
  /** A commit notice: no entries, sent because the commit index moved. */
  notice?: boolean;
}

/** A merged append carries at most this many bytes of entry data (well under NATS's 1 MiB). */
export const MAX_MERGED_BYTES = 256 * 1024;

/** How far a follower that takes `m` may commit: the leader's commit, capped at what `m` leaves it holding. */
export function commitReach(m: AppendLike): number {
  return Math.min(m.commit, m.prevIndex + m.entries.length);
}

/**
 * `a` and then `b` to one follower as one message: only consecutive entries, never a commit notice,
 * and up to `MAX_MERGED_BYTES` of entry data; undefined otherwise. The caller checks that both are
 * of one epoch (term, ballot).
 */
export function mergeAppends<M extends AppendLike>(a: M, b: M): M | undefined {
  if (a.notice || b.notice || a.to !== b.to) return undefined;
  if (a.entries.length === 0 || b.entries.length === 0 || b.prevIndex !== a.prevIndex + a.entries.length) return undefined;
  let bytes = 0;
  for (const e of a.entries) bytes += e.data.length;
  for (const e of b.entries) bytes += e.data.length;
  if (bytes > MAX_MERGED_BYTES) return undefined;
  return { ...a, entries: [...a.entries, ...b.entries], commit: Math.max(a.commit, b.commit) };
}
