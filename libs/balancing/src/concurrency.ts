/**
 * Per-member concurrency limits: a member takes at most its limit of requests at once. The limit
 * of a member is given at acquire time (it may change with the member's heartbeats); 0 or less
 * means unlimited.
 */
export class ConcurrencyLimiter {
  private readonly inUse = new Map<string, number>();

  /** True (and a slot taken) when the member is under its limit. */
  tryAcquire(id: string, limit: number): boolean {
    const n = this.inUse.get(id) ?? 0;
    if (limit > 0 && n >= limit) return false;
    this.inUse.set(id, n + 1);
    return true;
  }

  release(id: string): void {
    const n = this.inUse.get(id) ?? 0;
    if (n <= 1) this.inUse.delete(id);
    else this.inUse.set(id, n - 1);
  }

  /** Whether the member has a free slot under `limit`. */
  hasCapacity(id: string, limit: number): boolean {
    return limit <= 0 || (this.inUse.get(id) ?? 0) < limit;
  }

  inFlight(id: string): number {
    return this.inUse.get(id) ?? 0;
  }
}
