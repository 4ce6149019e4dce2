import { describe, expect, it } from 'vitest';
import { LeaseDeadlines, type LeaseTable } from '../src/index.js';

/** A lease table as the state machine gives it: TTLs by id, an epoch bumped on every change. */
class Table implements LeaseTable {
  leaseEpoch = 0;
  readonly ttls = new Map<number, number>();
  set(id: number, ttlMs: number | undefined): this {
    if (ttlMs === undefined) this.ttls.delete(id);
    else this.ttls.set(id, ttlMs);
    this.leaseEpoch++;
    return this;
  }
  leaseTtls(): Iterable<[number, number]> {
    return this.ttls.entries();
  }
  lease(id: number): { ttlMs: number } | undefined {
    const ttlMs = this.ttls.get(id);
    return ttlMs === undefined ? undefined : { ttlMs };
  }
}

describe('LeaseDeadlines', () => {
  it('a new leader gives every live lease its full TTL from the moment it leads', () => {
    let now = 1000;
    const d = new LeaseDeadlines(() => now);
    const t = new Table().set(1, 300).set(2, 500);
    d.lead(t);
    now = 1299;
    expect(d.expired(10)).toEqual([]);
    now = 1300;
    expect(d.expired(10)).toEqual([1]);
    expect(d.remainingMs(2, 500)).toBe(200);
  });

  it('a keep-alive moves the deadline one TTL on; past its deadline a lease counts as passed', () => {
    let now = 0;
    const d = new LeaseDeadlines(() => now);
    const t = new Table().set(7, 300);
    d.lead(t);
    now = 250;
    expect(d.passed(7)).toBe(false);
    d.keepAlive(7, 300);
    now = 549;
    expect(d.expired(10)).toEqual([]);
    now = 550;
    expect(d.passed(7)).toBe(true);
    expect(d.expired(10)).toEqual([7]);
    // A lease this leader has no deadline for has not passed.
    expect(d.passed(8)).toBe(false);
  });

  it('follows the table: a new lease gets its TTL from when it appears, a gone one is forgotten', () => {
    let now = 0;
    const d = new LeaseDeadlines(() => now);
    const t = new Table().set(1, 100);
    d.lead(t);
    now = 60;
    t.set(2, 100).set(1, undefined);
    d.follow(t);
    now = 150;
    expect(d.expired(10)).toEqual([]);
    now = 160;
    expect(d.expired(10)).toEqual([2]);
  });

  it('leading again, the deadlines of the previous term are dropped; the broken rule keeps them', () => {
    for (const [stale, expected] of [
      [false, []],
      [true, [1]],
    ] as const) {
      let now = 0;
      const d = new LeaseDeadlines(() => now, stale);
      const t = new Table().set(1, 300);
      d.lead(t);
      // Another leader kept the lease alive meanwhile; this one leads again at 400.
      now = 400;
      d.lead(t);
      now = 500;
      expect(d.expired(10)).toEqual(expected);
    }
  });
});
