import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@synod/testkit';
import {
  ConcurrencyLimiter,
  DEFAULT_OUTLIER,
  OutlierDetector,
  RetryBudget,
  RoundRobinStrategy,
  SlowStart,
  WeightedRoundRobinStrategy,
  type OutlierOptions,
} from '../src/index.js';

const five = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, weight: 1 }));

describe('slow start', () => {
  const opts = { windowMs: 10_000, aggression: 1, minPercent: 10, steps: 10 };

  it('ramps the factor linearly from the floor to 1 over the window, and is off with window 0', () => {
    const s = new SlowStart(opts, () => 0);
    expect(s.factor(0, 0)).toBe(0.1);
    expect(s.factor(0, 5000)).toBe(0.5);
    expect(s.factor(0, 10_000)).toBe(1);
    expect(s.factor(undefined, 0)).toBe(1);
    expect(s.steppedFactor(0, 2100)).toBe(0.3);
    expect(new SlowStart({ ...opts, aggression: 2 }, () => 0).factor(0, 2500)).toBe(0.5);
    expect(new SlowStart({ ...opts, windowMs: 0 }, () => 0).factor(0, 0)).toBe(1);
  });

  it('weighted: a newcomer at factor 0.2 gets exactly its reduced weight per cycle', () => {
    const s = new SlowStart(opts, () => 0);
    const w = new WeightedRoundRobinStrategy();
    const ms = [
      { id: 'old1', weight: 5 },
      { id: 'old2', weight: 5 },
      { id: 'new', weight: 5 },
    ];
    const joined = (m: { id: string }) => (m.id === 'new' ? 0 : undefined);
    // At 1.5 s the factor is 0.15, stepped up to 0.2: weights 5, 5, 1 → 11 picks per cycle.
    const counts = new Map<string, number>();
    for (let i = 0; i < 110; i++) {
      const id = s.pick(w, ms, { now: 1500 }, joined)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ old1: 50, old2: 50, new: 10 });
    // Past the window: full weight.
    counts.clear();
    for (let i = 0; i < 150; i++) {
      const id = s.pick(w, ms, { now: 10_000 }, joined)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ old1: 50, old2: 50, new: 50 });
  });

  it('other strategies: a ramping pick stands with probability = factor', () => {
    const s = new SlowStart(opts, seededRandom(5));
    const rr = new RoundRobinStrategy();
    const joined = (m: { id: string }) => (m.id === 'e' ? 0 : undefined);
    let e = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) if (s.pick(rr, five, { now: 2500 }, joined)!.id === 'e') e++;
    // Round-robin share 1/5 × factor 0.25.
    expect(e / n).toBeGreaterThan(0.04);
    expect(e / n).toBeLessThan(0.06);
    // The only member is picked whatever its factor.
    expect(s.pick(rr, [five[4]!], { now: 0 }, joined)?.id).toBe('e');
  });
});

describe('outlier detection', () => {
  const opts: OutlierOptions = { ...DEFAULT_OUTLIER, consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 5000, maxEjectionPercent: 40 };

  it('ejects after N consecutive failures, for a time that grows with repeat ejections', () => {
    const d = new OutlierDetector(opts);
    d.record('a', false, 0, 5);
    d.record('a', false, 0, 5);
    d.record('a', true, 0, 5);
    d.record('a', false, 0, 5);
    d.record('a', false, 0, 5);
    const first = d.record('a', false, 10, 5);
    expect(first).toEqual({ id: 'a', reason: 'consecutive-failures', until: 1010, count: 1 });
    expect(d.eligible(five, 500).map((m) => m.id)).toEqual(['b', 'c', 'd', 'e']);
    const back: string[] = [];
    expect(d.eligible(five, 1010, (id) => back.push(id))).toHaveLength(5);
    expect(back).toEqual(['a']);
    for (let i = 0; i < 2; i++) d.record('a', false, 1100, 5);
    expect(d.record('a', false, 1100, 5)?.until).toBe(3100);
    // Capped at maxEjectionMs.
    let until = 0;
    for (let k = 0; k < 6; k++) {
      d.eligible(five, 100_000 * (k + 1));
      for (let i = 0; i < 3; i++) until = d.record('a', false, 100_000 * (k + 1), 5)?.until ?? until;
    }
    expect(until - 600_000).toBe(5000);
  });

  it('forgives ejections while the member stays healthy', () => {
    const d = new OutlierDetector(opts);
    for (let i = 0; i < 3; i++) d.record('a', false, 0, 5);
    d.eligible(five, 1000);
    d.record('a', true, 7000, 5);
    for (let i = 0; i < 3; i++) d.record('a', false, 7000, 5);
    expect(d.ejectedUntil('a', 7000)).toBe(8000);
  });

  it('ejects on a low success rate over a window with enough requests', () => {
    const d = new OutlierDetector({ ...opts, consecutiveFailures: 0, successRatePercent: 60, successRateMinRequests: 10, successRateWindowMs: 1000 });
    let ejected;
    for (let i = 0; i < 10 && !ejected; i++) ejected = d.record('a', i % 2 === 0, 100, 5);
    expect(ejected?.reason).toBe('success-rate');
    // A new window starts clean.
    const e = new OutlierDetector({ ...opts, consecutiveFailures: 0, successRatePercent: 60, successRateMinRequests: 10, successRateWindowMs: 1000 });
    for (let i = 0; i < 9; i++) e.record('a', i % 2 === 0, 0, 5);
    expect(e.record('a', false, 1000, 5)).toBeUndefined();
  });

  it('missed pings eject; answered pings reset the count', () => {
    const d = new OutlierDetector({ ...opts, consecutivePingFailures: 2 });
    d.recordPing('a', false, 0, 5);
    d.recordPing('a', true, 0, 5);
    expect(d.recordPing('a', false, 0, 5)).toBeUndefined();
    expect(d.recordPing('a', false, 0, 5)?.reason).toBe('active-check');
  });

  it('never ejects more than the cap, nor the last member; beyond the cap balances across all', () => {
    const d = new OutlierDetector(opts);
    // 40% of 5 = 2.
    for (const id of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) d.record(id, false, 0, 5);
    expect(d.ejectedCount(['a', 'b', 'c', 'd', 'e'], 0)).toBe(2);
    expect(d.isEjected('c', 0)).toBe(false);
    // Three members left, two ejected: over the cap → everyone takes traffic.
    expect(d.eligible(five.slice(0, 3), 0)).toHaveLength(3);
    const solo = new OutlierDetector({ ...opts, maxEjectionPercent: 100 });
    for (let i = 0; i < 5; i++) solo.record('a', false, 0, 1);
    expect(solo.isEjected('a', 0)).toBe(false);
  });

  it('healthy members are never ejected (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 100 })), { maxLength: 200 }), (events) => {
        const d = new OutlierDetector({ ...DEFAULT_OUTLIER, successRatePercent: 50 });
        let now = 0;
        for (const [id, dt] of events) {
          now += dt;
          expect(d.record(id, true, now, 3)).toBeUndefined();
          expect(d.recordPing(id, true, now, 3)).toBeUndefined();
        }
        expect(d.eligible(five.slice(0, 3), now)).toHaveLength(3);
      }),
    );
  });
});

describe('retry budget', () => {
  it('allows ratio × requests plus the floor, never more (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { minLength: 1, maxLength: 2000 }),
        fc.constantFrom(0.1, 0.2, 0.5),
        (steps, ratio) => {
          const opts = { ratio, minPerSecond: 5, maxTokens: 50 };
          const b = new RetryBudget(opts);
          let now = 0;
          let requests = 0;
          let retries = 0;
          for (const [dt, retry] of steps) {
            now += dt;
            b.deposit(now);
            requests++;
            if (retry && b.tryWithdraw(now)) retries++;
          }
          expect(retries).toBeLessThanOrEqual(Math.floor(ratio * requests + (now / 1000) * 5 + 5 + 1e-6));
        },
      ),
    );
  });

  it('under total failure, retries settle at the ratio', () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 0, maxTokens: 10 }, 0);
    let retries = 0;
    for (let i = 0; i < 1000; i++) {
      b.deposit(0);
      while (b.tryWithdraw(0)) retries++;
    }
    expect(retries).toBe(200);
  });

  it('refills the floor with time, up to the cap', () => {
    const b = new RetryBudget({ ratio: 0, minPerSecond: 10, maxTokens: 3 }, 0);
    expect(b.tryWithdraw(0)).toBe(false);
    expect(b.balance(100)).toBeCloseTo(1, 9);
    expect(b.balance(10_000)).toBe(3);
  });
});

describe('concurrency limiter', () => {
  it('holds each member to its limit; 0 is unlimited', () => {
    const l = new ConcurrencyLimiter();
    expect(l.tryAcquire('a', 2)).toBe(true);
    expect(l.tryAcquire('a', 2)).toBe(true);
    expect(l.tryAcquire('a', 2)).toBe(false);
    expect(l.hasCapacity('a', 2)).toBe(false);
    expect(l.hasCapacity('a', 3)).toBe(true);
    l.release('a');
    expect(l.inFlight('a')).toBe(1);
    expect(l.tryAcquire('a', 2)).toBe(true);
    for (let i = 0; i < 100; i++) expect(l.tryAcquire('b', 0)).toBe(true);
    l.release('zzz');
    expect(l.inFlight('zzz')).toBe(0);
  });
});
