import type { Addressed, NodeId, ReplicationHints } from '@synod/replog';
import type { Clock } from './clock.js';

export interface ThriftyOptions<M> {
  out: (messages: M[]) => void;
  /** How the engine's replication messages and acknowledgements are read. */
  hints: ReplicationHints<M>;
  /** The longest a held append waits (0: thrifty replication off). */
  holdMs: number;
  /** A quorum follower's acknowledgement later than max(this, 3 × its usual delay) ends the hold at once. */
  hedgeMinMs: number;
  clock: Clock;
}

/** A follower that acknowledged nothing this long is not counted on for the quorum. */
const HEALTH_MS = 1000;
/** Unacknowledged direct appends timed per follower, at most. */
const MAX_TIMED = 256;

interface Peer<M> {
  /** When it last acknowledged anything (monotonic ms), or when this node became leader. */
  lastAck: number;
  /** Appends with entries sent to it directly and not acknowledged yet: last index and send time, oldest first. */
  unacked: { end: number; at: number }[];
  /** Replication messages held for it, in order. */
  held: M[];
  /** It made the leader hedge and has acknowledged nothing since: counted on last. */
  late: boolean;
}

/**
 * Thrifty replication: a leader sends each append at once only to as many followers as a quorum
 * needs with it (the healthy ones first, then by id); the others get theirs in one batch at most
 * `holdMs` later. Under a steady write load this spares those followers, nats-server and the
 * leader most of the per-message work (a wake-up, a parse, an fsync, an acknowledgement for every
 * write), which on a host whose cores are shared is what a write waits for.
 *
 * Holding a message is always safe (both engines tolerate any delay). What it costs is bounded: a held
 * follower's copy (its stale reads and the watches it serves) lags by at most `holdMs`, and when a
 * quorum follower is late — no acknowledgement within max(`hedgeMinMs`, 3 × its usual delay) —
 * everything held goes at once and every follower is sent to directly for a while
 * (`5 × holdMs`), so a slow or dead follower delays commits by that hedge, not by the hold. A
 * follower that was late (at the hedge, or unanswered for a whole hold) is counted on last until it
 * acknowledges again, so a dead one stops costing writes at once rather than after `HEALTH_MS`.
 */
export class ThriftySender<M extends Addressed> {
  private leader = false;
  private followers: NodeId[] = [];
  private readonly peers = new Map<NodeId, Peer<M>>();
  private holdTimer: unknown;
  private hedgeTimer: unknown;
  /** Until then (monotonic ms) nothing is held: a quorum follower was late. */
  private directUntil = -Infinity;
  /** Usual delay of a quorum follower's acknowledgement (EWMA, ms). */
  private ackDelay = 0;
  /** Appends held, batches sent after their hold, and hedges (for metrics and tests). */
  readonly stats = { held: 0, flushed: 0, hedges: 0 };

  constructor(private readonly o: ThriftyOptions<M>) {}

  private setTimer(fn: () => void, ms: number): unknown {
    return this.o.clock.setTimer(fn, ms);
  }

  private clearTimer(t: unknown): void {
    this.o.clock.clearTimer(t);
  }

  /** This node's role and the voters (itself included); called on every role or membership change. */
  configure(leader: boolean, self: NodeId, voters: readonly NodeId[]): void {
    const becameLeader = leader && !this.leader;
    this.leader = leader;
    this.followers = voters.filter((v) => v !== self);
    const now = this.o.clock.now();
    for (const id of this.followers) if (!this.peers.has(id)) this.peers.set(id, { lastAck: now, unacked: [], held: [], late: false });
    for (const id of [...this.peers.keys()]) if (!this.followers.includes(id) && this.peers.get(id)!.held.length === 0) this.peers.delete(id);
    if (becameLeader) for (const p of this.peers.values()) p.lastAck = now;
    if (!leader) {
      this.flush();
      for (const p of this.peers.values()) p.unacked = [];
    }
  }

  send(messages: M[]): void {
    if (!this.leader || this.o.holdMs <= 0) return this.o.out(messages);
    const now = this.o.clock.now();
    const c = this.o.hints;
    // Who may wait is worked out once per call, and only for a call that carries an append.
    let lazy: Set<NodeId> | undefined | null = null;
    const direct: M[] = [];
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (peer && c.isAppend(m)) {
        if (lazy === null) lazy = now < this.directUntil ? undefined : this.lazyFollowers(now);
        // Order per follower: once something is held for it, its later appends wait behind it.
        if (peer.held.length > 0 || lazy?.has(m.to)) {
          peer.held.push(m);
          this.stats.held++;
          this.holdTimer ??= this.setTimer(() => {
            this.holdTimer = undefined;
            // A follower counted on that left an append unanswered for a whole hold is late too.
            this.markLate(this.o.clock.now(), this.o.holdMs);
            this.flush();
          }, this.o.holdMs);
          continue;
        }
        const end = c.appendEnd(m);
        // Every direct append is timed: the usual acknowledgement delay is learnt in all modes.
        if (end !== undefined && peer.unacked.length < MAX_TIMED) peer.unacked.push({ end, at: now });
      }
      direct.push(m);
    }
    if (direct.length > 0) this.o.out(direct);
    if (this.holdTimer !== undefined) this.armHedge();
  }

  /** A message from a peer (acknowledgements are watched for lateness). */
  observe(m: M): void {
    if (!this.leader) return;
    const index = this.o.hints.ackIndex(m);
    const peer = this.peers.get((m as Addressed & { from?: NodeId }).from ?? '');
    if (index === undefined || !peer) return;
    const now = this.o.clock.now();
    peer.lastAck = now;
    peer.late = false;
    let i = 0;
    while (i < peer.unacked.length && peer.unacked[i]!.end <= index) {
      const delay = now - peer.unacked[i]!.at;
      this.ackDelay = this.ackDelay === 0 ? delay : this.ackDelay * 0.9 + delay * 0.1;
      i++;
    }
    if (i > 0) peer.unacked.splice(0, i);
  }

  /** Sends everything held. */
  flush(): void {
    if (this.holdTimer !== undefined) this.clearTimer(this.holdTimer);
    this.holdTimer = undefined;
    const out: M[] = [];
    const merge = this.o.hints.merge;
    for (const p of this.peers.values()) {
      if (p.held.length === 0) continue;
      // Consecutive appends go as one: one message, one step and one acknowledgement per batch.
      let last: M | undefined;
      for (const m of p.held) {
        const merged = last !== undefined ? merge(last, m) : undefined;
        if (merged !== undefined) out[out.length - 1] = last = merged;
        else out.push((last = m));
      }
      p.held = [];
      this.stats.flushed++;
    }
    if (out.length > 0) this.o.out(out);
  }

  /** Drops what is held (the replica is stopping). */
  stop(): void {
    if (this.holdTimer !== undefined) this.clearTimer(this.holdTimer);
    if (this.hedgeTimer !== undefined) this.clearTimer(this.hedgeTimer);
    this.holdTimer = this.hedgeTimer = undefined;
    this.leader = false;
    for (const p of this.peers.values()) p.held = [];
  }

  /** Followers beyond those a quorum needs, or undefined when none can be spared. */
  private lazyFollowers(now: number): Set<NodeId> | undefined {
    const need = Math.floor((this.followers.length + 1) / 2);
    if (this.followers.length <= need) return undefined;
    const healthy = (id: NodeId) => {
      const p = this.peers.get(id);
      return p !== undefined && !p.late && now - p.lastAck <= HEALTH_MS;
    };
    const ranked = [...this.followers].sort((a, b) => Number(healthy(b)) - Number(healthy(a)) || (a < b ? -1 : a > b ? 1 : 0));
    return new Set(ranked.slice(need));
  }

  private markLate(now: number, wait: number): void {
    for (const p of this.peers.values()) if (p.unacked.length > 0 && now - p.unacked[0]!.at >= wait) p.late = true;
  }

  private armHedge(): void {
    if (this.hedgeTimer !== undefined) return;
    const wait = Math.max(this.o.hedgeMinMs, 3 * this.ackDelay);
    this.hedgeTimer = this.setTimer(() => this.checkHedge(), wait);
  }

  /** While appends are held: are the followers sent to directly late? (Silent ones are not counted on.) */
  private checkHedge(): void {
    this.hedgeTimer = undefined;
    if (this.holdTimer === undefined) return;
    const now = this.o.clock.now();
    const wait = Math.max(this.o.hedgeMinMs, 3 * this.ackDelay);
    let oldest = Infinity;
    for (const p of this.peers.values()) if (p.unacked.length > 0 && now - p.lastAck <= HEALTH_MS) oldest = Math.min(oldest, p.unacked[0]!.at);
    if (oldest === Infinity) return;
    if (now - oldest >= wait) {
      // A follower counted on is late: what is held goes now, and nothing is held for a while.
      this.stats.hedges++;
      this.directUntil = now + 5 * this.o.holdMs;
      this.markLate(now, wait);
      this.flush();
      return;
    }
    this.hedgeTimer = this.setTimer(() => this.checkHedge(), Math.max(0, oldest + wait - now));
  }
}
