/**
 * The replicated lease table as the leader's deadline keeping reads it: each live lease's TTL, and a
 * number that changes whenever the table does (so the deadlines follow it without a walk per write).
 */
export interface LeaseTable {
  readonly leaseEpoch: number;
  leaseTtls(): Iterable<[id: number, ttlMs: number]>;
  lease(id: number): { ttlMs: number } | undefined;
}

/**
 * Lease deadlines, kept by the leader in its memory on the host's clock: the log holds leases' TTLs,
 * never their deadlines (time never enters the log). A new leader gives every live lease its full
 * TTL from the moment it leads, so a failover never shortens a lease; a keep-alive the leader
 * confirmed sets a deadline one TTL on; the leases whose deadline it sees pass are expired through
 * the log (`expired`). Pure: time is whatever `now` says.
 */
export class LeaseDeadlines {
  private readonly deadlines = new Map<number, number>();
  /** The lease table the deadlines last followed (see `follow`). */
  private synced: { table: LeaseTable; epoch: number } | undefined;

  /**
   * `keepStaleDeadlines` (test-only, the host's `lease-stale-deadlines` broken rule): a re-elected
   * leader goes on with the deadlines of its previous term instead of extending every lease.
   */
  constructor(
    private readonly now: () => number,
    private readonly keepStaleDeadlines = false,
  ) {}

  /** This replica became leader: every live lease gets its full TTL from now. */
  lead(table: LeaseTable): void {
    const now = this.now();
    if (!this.keepStaleDeadlines) this.deadlines.clear();
    for (const [id, ttlMs] of table.leaseTtls()) if (!this.deadlines.has(id)) this.deadlines.set(id, now + ttlMs);
    this.synced = { table, epoch: table.leaseEpoch };
  }

  /**
   * After entries are applied on the leader: the deadlines follow the lease table (a new lease gets
   * its TTL from now, a gone one is forgotten), walked only when it changed or was replaced by a
   * snapshot, not after every write.
   */
  follow(table: LeaseTable): void {
    if (this.synced?.table === table && this.synced.epoch === table.leaseEpoch) return;
    const now = this.now();
    const live = new Set<number>();
    for (const [id, ttlMs] of table.leaseTtls()) {
      live.add(id);
      if (!this.deadlines.has(id)) this.deadlines.set(id, now + ttlMs);
    }
    for (const id of this.deadlines.keys()) if (!live.has(id)) this.deadlines.delete(id);
    this.synced = { table, epoch: table.leaseEpoch };
  }

  /**
   * True once lease `id`'s deadline has passed: its expiry is proposed or about to be, so a
   * keep-alive must not extend it (the expiry may commit after the keep-alive was answered).
   */
  passed(id: number): boolean {
    const deadline = this.deadlines.get(id);
    return deadline !== undefined && deadline <= this.now();
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
