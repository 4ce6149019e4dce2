/**
 * What the leader knows of one acceptor's prefix at its ballot, and the flow control that bounds
 * what is in flight to it (the same shape as Raft's: probe, pipelined replicate, snapshot).
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  probeSent = false;
  private inflight: { last: number; bytes: number }[] = [];
  private inflightBytes = 0;
  recentActive = false;
  ackRound = 0;
  /** Highest chosen index a message to this acceptor let it learn (min of our prefix and what it holds). */
  commitSent = 0;
  snapshotIndex = 0;
  snapshotOffset = 0;
  snapshotAcked = false;

  constructor(
    next: number,
    readonly isLearner: boolean,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
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

  /** The acceptor's prefix at our ballot ends at `index` (a gap): probe from there. False if stale. */
  gapAt(index: number): boolean {
    if (this.state === 'snapshot' || index + 1 >= this.next) return false;
    this.state = 'probe';
    this.next = index + 1;
    this.probeSent = false;
    this.resetInflight();
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
