import type { Snapshot } from './engine.js';
import { concatBytes } from './bytes.js';
import type { Progress } from './progress.js';

/**
 * A snapshot sent to a lagging follower in chunks, so each message stays below the transport's
 * size bound (Raft's InstallSnapshot, the same for a Paxos acceptor behind the compaction point).
 * The follower takes chunks only in order and says where to go on; the leader sends one chunk at a
 * time and sends it again when it went unanswered for a heartbeat interval.
 */

export interface SnapshotChunk {
  offset: number;
  data: Uint8Array;
  done: boolean;
  /** The whole snapshot's size in bytes. */
  size: number;
}

/** A follower's answer to a chunk: `next` is the offset it expects next; `reject` restarts the transfer. */
export interface SnapshotAnswer {
  index: number;
  next: number;
  reject: boolean;
  done: boolean;
}

/** The chunk of `snap` the follower behind `pr` needs next (from the start when a newer snapshot replaced the one being streamed). */
export function nextChunk(snap: Snapshot, pr: Progress, chunkBytes: number): SnapshotChunk {
  if (pr.snapshotIndex !== snap.index) {
    pr.snapshotIndex = snap.index;
    pr.snapshotOffset = 0;
  }
  const end = Math.min(snap.data.length, pr.snapshotOffset + chunkBytes);
  return { offset: pr.snapshotOffset, data: snap.data.subarray(pr.snapshotOffset, end), done: end === snap.data.length, size: snap.data.length };
}

/**
 * The leader reads a follower's answer: `installed` (it holds the snapshot: replicate from there),
 * `next` (send the chunk it asks for; a stale answer only causes a duplicate chunk, which the
 * follower answers with its real position) or `stale`.
 */
export function snapshotAnswered(pr: Progress, m: SnapshotAnswer): 'installed' | 'next' | 'stale' {
  if (pr.state !== 'snapshot' || m.index !== pr.snapshotIndex) return 'stale';
  pr.snapshotAcked = true;
  if (m.done) {
    pr.maybeUpdate(m.index);
    pr.becomeProbe();
    return 'installed';
  }
  pr.snapshotOffset = m.reject ? 0 : m.next;
  return 'next';
}

/** At a heartbeat: true when the chunk in flight to `pr` went unanswered since the last one (send it again). */
export function chunkUnanswered(pr: Progress): boolean {
  if (pr.state !== 'snapshot') return false;
  const lost = !pr.snapshotAcked;
  pr.snapshotAcked = false;
  return lost;
}

/** The follower's side: chunks put together in order, for one snapshot at a time. */
export class SnapshotReceiver<Meta> {
  private incoming: { key: string; meta: Meta; size: number; chunks: Uint8Array[]; next: number } | undefined;

  /** Forgets a transfer in progress (the follower holds what it would install). */
  reset(): void {
    this.incoming = undefined;
  }

  /**
   * One chunk of the snapshot `key` (what identifies it: its index, and for Raft its term), with
   * its metadata. Returns the answer to send and, after the last chunk, the whole snapshot.
   */
  receive(key: string, meta: Meta, c: SnapshotChunk): { next: number; done: boolean; reject: boolean; complete?: { meta: Meta; data: Uint8Array } } {
    if (c.offset === 0 && this.incoming?.key !== key) this.incoming = { key, meta, size: c.size, chunks: [], next: 0 };
    const inc = this.incoming;
    if (!inc || inc.key !== key) return { next: 0, done: false, reject: true };
    // A duplicate or a chunk after a lost one: say where we are.
    if (c.offset !== inc.next) return { next: inc.next, done: false, reject: false };
    inc.chunks.push(c.data.slice());
    inc.next += c.data.length;
    if (!c.done) return { next: inc.next, done: false, reject: false };
    this.incoming = undefined;
    const data = concatBytes(inc.chunks, inc.next);
    if (data.length !== inc.size) return { next: 0, done: false, reject: true };
    return { next: inc.size, done: true, reject: false, complete: { meta: inc.meta, data } };
  }
}
