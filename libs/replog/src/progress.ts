import type { EngineStatus, NodeId } from './engine.js';

/**
 * What a leader knows of one follower's log (Raft's nextIndex/matchIndex, a Paxos acceptor's prefix
 * at the leader's ballot), and the flow control that bounds what is in flight to it.
 *
 * - probe: the follower's position is unknown; one replication message at a time until one succeeds.
 * - replicate: the position is known; replication messages are pipelined up to the in-flight bounds.
 * - snapshot: the follower needs entries that are compacted; a snapshot is streamed in chunks.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: a replication message is out and unanswered. */
  probeSent = false;
  /** In flight in replicate: last index and bytes of each unacknowledged replication message. */
  private inflight: { last: number; bytes: number }[] = [];
  private inflightBytes = 0;
  /** Heard from since the last check that a quorum is still there (Raft's CheckQuorum). */
  recentActive = false;
  /** Highest heartbeat round acknowledged (read-index and lease). */
  ackRound = 0;
  /** Highest commit index a message to this follower let it commit (min of our commit and what it holds). */
  commitSent = 0;
  /** Snapshot being streamed: its index and the next byte offset to send. */
  snapshotIndex = 0;
  snapshotOffset = 0;
  /** A chunk was acknowledged since the last heartbeat (else the chunk is resent). */
  snapshotAcked = false;

  constructor(
    next: number,
    readonly isLearner: boolean,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot index.
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.snapshotIndex + 1) : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.resetInflight();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.resetInflight();
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.snapshotIndex = index;
    this.snapshotOffset = 0;
    this.snapshotAcked = true;
    this.resetInflight();
  }

  /** Records an acknowledgement up to `index`; returns whether it was news. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    this.freeTo(index);
    return updated;
  }

  /**
   * A rejection at `rejected` with the follower's hint (its last index, or where its log stops
   * matching): back off, skipping more than one entry at a time; false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** The follower's prefix ends at `index` (a gap after it): probe from there; false if stale. */
  gapAt(index: number): boolean {
    if (this.state === 'snapshot' || index + 1 >= this.next) return false;
    this.state = 'probe';
    this.next = index + 1;
    this.probeSent = false;
    this.resetInflight();
    return true;
  }

  /**
   * A replication message went out: `count` entries (`bytes` in all) after `prevIndex`, with the
   * leader's commit index `commit`. Returns whether another may follow at once (pipelining).
   */
  sentAppend(prevIndex: number, count: number, bytes: number, commit: number): boolean {
    this.commitSent = Math.max(this.commitSent, Math.min(commit, prevIndex + count));
    this.sentEntries(prevIndex + count, bytes);
    return this.state === 'replicate' && count > 0;
  }

  sentEntries(last: number, bytes: number): void {
    if (this.state === 'replicate') {
      this.next = last + 1;
      this.inflight.push({ last, bytes });
      this.inflightBytes += bytes;
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  paused(maxMsgs: number, maxBytes: number): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= maxMsgs || this.inflightBytes >= maxBytes;
      case 'snapshot':
        return true;
    }
  }

  private freeTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]!.last <= index) {
      this.inflightBytes -= this.inflight[n]!.bytes;
      n++;
    }
    if (n > 0) this.inflight.splice(0, n);
  }

  private resetInflight(): void {
    this.inflight = [];
    this.inflightBytes = 0;
  }
}

/** A leader's report of how far each member replicated (EngineStatus.progress); the leader itself at `selfMatch`. */
export function progressReport(progress: ReadonlyMap<NodeId, Progress>, self: NodeId, selfMatch: number, lastIndex: number): NonNullable<EngineStatus['progress']> {
  const report: NonNullable<EngineStatus['progress']> = {};
  for (const [id, p] of progress) report[id] = id === self ? { match: selfMatch, next: lastIndex + 1, state: 'leader' } : { match: p.match, next: p.next, state: p.state };
  return report;
}
