import type { Membership, NodeId, ReadOptions, ReadState } from './engine.js';
import { jointValue } from './quorum.js';

interface PendingRead {
  ctx: string;
  index: number;
  round: number;
}

/**
 * A leader's linearizable reads (Raft dissertation §6.4, the same for Multi-Paxos): a read is
 * served at the commit index it was asked at once a quorum acknowledged a heartbeat round sent
 * after it was asked (no newer leader existed then), or at once while the leader lease holds.
 * Every read asked before the next Ready shares one round. What differs between engines is only
 * the quorum: a majority of one configuration (Raft) or of every active one (Paxos).
 */
export class ReadTracker {
  /** The last heartbeat round sent by this leader (0 after it took over). */
  round = 0;
  /** A read waits for a round that goes out with the next Ready. */
  roundPending = false;
  private readonly sentAt = new Map<number, number>();
  private pending: PendingRead[] = [];
  /** Reads asked before this leader may serve reads (its first commit): started later. */
  private waiting: { ctx: string; mode: ReadOptions['mode'] }[] = [];
  private states: ReadState[] = [];

  constructor(private readonly lease: { electionTicks: number; leaseDriftTicks: number }) {}

  /** Reads released since the last Ready. */
  get hasStates(): boolean {
    return this.states.length > 0;
  }

  /** The next Ready's read states. */
  takeStates(): ReadState[] {
    const out = this.states;
    this.states = [];
    return out;
  }

  /** A new leadership: rounds start over. */
  resetRounds(): void {
    this.round = 0;
    this.sentAt.clear();
  }

  /** Leadership lost: reads in progress are dropped (the driver refuses them on the role change). */
  abandon(): void {
    this.roundPending = false;
    this.pending = [];
    this.waiting = [];
  }

  /** A read asked before the leader may serve reads: `startWaiting` starts it later. */
  wait(ctx: string, mode: ReadOptions['mode']): void {
    this.waiting.push({ ctx, mode });
  }

  /** The leader may serve reads now: every read that waited starts. */
  startWaiting(start: (ctx: string, mode: ReadOptions['mode']) => void): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const r of waiting) start(r.ctx, r.mode);
  }

  /** A read at commit index `index`: served at once when `now` (a valid lease, a sole voter), else after the next round. */
  request(ctx: string, index: number, now: boolean): void {
    if (now) {
      this.states.push({ ctx, index });
      return;
    }
    this.pending.push({ ctx, index, round: this.round + 1 });
    this.roundPending = true;
  }

  /** A heartbeat round goes out at tick `now`; returns its number. */
  newRound(now: number): number {
    this.round++;
    this.sentAt.set(this.round, now);
    // Only rounds that may still be acknowledged matter; bound the map.
    if (this.sentAt.size > 64) this.sentAt.delete(this.round - 64);
    return this.round;
  }

  /** Releases the reads whose round a quorum of every configuration acknowledged (`ackRound` of each peer). */
  release(configs: readonly Membership[], self: NodeId, ackRound: (id: NodeId) => number): void {
    if (this.pending.length === 0) return;
    const acked = jointValue(configs, (id) => (id === self ? this.round : ackRound(id)));
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.round <= acked) {
      const r = this.pending[n]!;
      this.states.push({ ctx: r.ctx, index: r.index });
      n++;
    }
    if (n > 0) this.pending.splice(0, n);
  }

  /**
   * The leader lease at tick `now`: a quorum of every configuration acknowledged a heartbeat sent
   * less than `electionTicks - leaseDriftTicks` ticks ago. Followers ignore campaigns for
   * `electionTicks` after hearing from the leader, so no other leader can exist until then,
   * provided clocks tick at rates that differ by less than the drift allowance.
   */
  leaseValid(now: number, configs: readonly Membership[], self: NodeId, ackRound: (id: NodeId) => number): boolean {
    const oldest = jointValue(configs, (id) => (id === self ? now : (this.sentAt.get(ackRound(id)) ?? -Infinity)));
    return now - oldest < this.lease.electionTicks - this.lease.leaseDriftTicks;
  }
}
