import type { RaftMessage } from '@synod/raft';
import type { Addressed, NodeId } from '@synod/replog';

/** How the thrifty sender reads an engine's messages. */
export interface ThriftyCodec<M> {
  /** True for a replication message (Raft's `app`); the order of these to one follower is kept. */
  isAppend(m: M): boolean;
  /** For a replication message carrying entries: the index of its last entry. */
  appendEnd(m: M): number | undefined;
  /** For a follower's positive acknowledgement: the index it holds up to. */
  ackIndex(m: M): number | undefined;
  /** `a` and then `b` as one message, if they can be (consecutive entries of one term), else undefined. */
  merge?(a: M, b: M): M | undefined;
}

export interface ThriftyOptions<M> {
  out: (messages: M[]) => void;
  codec: ThriftyCodec<M>;
  /** The longest a held append waits (0: thrifty replication off). */
  holdMs: number;
  /** A quorum follower's acknowledgement later than max(this, 3 × its usual delay) ends the hold at once. */
  hedgeMinMs: number;
  /** Monotonic milliseconds. */
  now: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

/** A follower that acknowledged nothing this long is not counted on for the quorum. */
const HEALTH_MS = 1000;
/** A batch merges consecutive appends up to this many bytes of entry data (well under NATS's 1 MiB). */
const MAX_MERGED_BYTES = 256 * 1024;
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
 * Holding a message is always safe (Raft tolerates any delay). What it costs is bounded: a held
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
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  /** Appends held, batches sent after their hold, and hedges (for metrics and tests). */
  readonly stats = { held: 0, flushed: 0, hedges: 0 };

  constructor(private readonly o: ThriftyOptions<M>) {
    this.setTimer = o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  /** This node's role and the voters (itself included); called on every role or membership change. */
  configure(leader: boolean, self: NodeId, voters: readonly NodeId[]): void {
    const becameLeader = leader && !this.leader;
    this.leader = leader;
    this.followers = voters.filter((v) => v !== self);
    const now = this.o.now();
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
    const now = this.o.now();
    const c = this.o.codec;
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
            this.markLate(this.o.now(), this.o.holdMs);
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
    const index = this.o.codec.ackIndex(m);
    const peer = this.peers.get((m as Addressed & { from?: NodeId }).from ?? '');
    if (index === undefined || !peer) return;
    const now = this.o.now();
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
    const merge = this.o.codec.merge;
    for (const p of this.peers.values()) {
      if (p.held.length === 0) continue;
      // Consecutive appends go as one: one message, one step and one acknowledgement per batch.
      let last: M | undefined;
      for (const m of p.held) {
        const merged = last !== undefined && merge ? merge(last, m) : undefined;
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
    const now = this.o.now();
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

/** How thrifty replication reads Raft's messages. */
export const raftThriftyCodec: ThriftyCodec<RaftMessage> = {
  isAppend: (m) => m.type === 'app',
  appendEnd: (m) => (m.type === 'app' && m.entries.length > 0 ? m.prevIndex + m.entries.length : undefined),
  ackIndex: (m) => (m.type === 'appResp' && !m.reject ? m.index : undefined),
  merge: (a, b) => {
    if (a.type !== 'app' || b.type !== 'app' || a.notice || b.notice || a.term !== b.term || a.to !== b.to) return undefined;
    if (a.entries.length === 0 || b.entries.length === 0 || b.prevIndex !== a.prevIndex + a.entries.length) return undefined;
    let bytes = 0;
    for (const e of a.entries) bytes += e.data.length;
    for (const e of b.entries) bytes += e.data.length;
    if (bytes > MAX_MERGED_BYTES) return undefined;
    return { ...a, entries: [...a.entries, ...b.entries], commit: Math.max(a.commit, b.commit) };
  },
};
