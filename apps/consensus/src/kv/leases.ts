import type { KvWriteOp } from '@synod/protocol';
import type { KvStateMachine } from '@synod/kv-state';

/**
 * Lease deadlines, kept by the leader in its memory (the state machine holds leases' TTLs, not
 * their deadlines: time never enters the log). A new leader extends every live lease by its full
 * TTL instead of expiring it on failover; expiries the leader sees pass are replicated as commands.
 */
export class LeaseDeadlines {
  private readonly deadlines = new Map<number, number>();
  /** The lease table the deadlines last followed (see `follow`). */
  private synced: { sm: KvStateMachine; epoch: number } | undefined;

  constructor(private readonly now: () => number) {}

  /** This replica became leader: every live lease gets its full TTL from now. */
  lead(sm: KvStateMachine): void {
    const now = this.now();
    this.deadlines.clear();
    for (const [id, ttlMs] of sm.leaseTtls()) this.deadlines.set(id, now + ttlMs);
    this.synced = { sm, epoch: sm.leaseEpoch };
  }

  /**
   * After entries are applied on the leader: the deadlines follow the lease table, walked only when
   * it changed (or was replaced by a snapshot), not after every write.
   */
  follow(sm: KvStateMachine): void {
    if (this.synced?.sm === sm && this.synced.epoch === sm.leaseEpoch) return;
    const now = this.now();
    const live = new Set<number>();
    for (const [id, ttlMs] of sm.leaseTtls()) {
      live.add(id);
      if (!this.deadlines.has(id)) this.deadlines.set(id, now + ttlMs);
    }
    for (const id of this.deadlines.keys()) if (!live.has(id)) this.deadlines.delete(id);
    this.synced = { sm, epoch: sm.leaseEpoch };
  }

  keepAlive(id: number, ttlMs: number): void {
    this.deadlines.set(id, this.now() + ttlMs);
  }

  /** Milliseconds left of lease `id` (its full TTL if this leader has no deadline for it yet). */
  remainingMs(id: number, ttlMs: number): number {
    const deadline = this.deadlines.get(id) ?? this.now() + ttlMs;
    return Math.max(0, Math.round(deadline - this.now()));
  }

  /** Leases whose deadline passed, at most `max`. */
  expired(max: number): number[] {
    const now = this.now();
    const out: number[] = [];
    for (const [id, d] of this.deadlines) {
      if (d > now) continue;
      out.push(id);
      if (out.length === max) break;
    }
    return out;
  }
}

/**
 * A lease grant below the store's minimum TTL, raised to it (the answer carries the TTL granted);
 * every other write as it is.
 */
export function raiseLeaseTtl(op: KvWriteOp, minTtlMs: number): KvWriteOp {
  return op.op === 'leaseGrant' && op.ttlMs < minTtlMs ? { ...op, ttlMs: minTtlMs } : op;
}
