/**
 * What the leader knows of one follower's log (§5.3 nextIndex/matchIndex), and the flow control
 * that bounds what is in flight to it.
 *
 * - probe: the follower's position is unknown; one AppendEntries at a time until one succeeds.
 * - replicate: the position is known; AppendEntries are pipelined up to the in-flight bounds.
 * - snapshot: the follower needs entries that are compacted; a snapshot is streamed in chunks.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: an AppendEntries is out and unanswered. */
  probeSent = false;
  /** In flight in replicate: last index and bytes of each unacknowledged AppendEntries. */
  private inflight: { last: number; bytes: number }[] = [];
  private inflightBytes = 0;
  /** Heard from since the last CheckQuorum round. */
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

  /** A rejection at `rejected` with the follower's hint: back off; false if the rejection is stale. */
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
