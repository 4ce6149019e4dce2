import { describe, expect, it } from 'vitest';
import { LoadTracker } from '../src/index.js';

describe('LoadTracker', () => {
  it('admits up to the concurrency limit and frees a slot when a job finishes', () => {
    const t = new LoadTracker({ maxConcurrency: 2 });
    expect([t.tryAdmit(), t.tryAdmit(), t.tryAdmit()]).toEqual([true, true, false]);
    expect(t.inFlight).toBe(2);
    t.finish(5);
    expect(t.inFlight).toBe(1);
    expect(t.tryAdmit()).toBe(true);
    expect(t.tryAdmit()).toBe(false);
  });

  it('admits without bound when no limit is set', () => {
    const t = new LoadTracker();
    for (let i = 0; i < 10_000; i++) expect(t.tryAdmit()).toBe(true);
    expect(t.inFlight).toBe(10_000);
    expect(t.maxConcurrency).toBeUndefined();
  });

  it('averages service time: the first job sets it, later ones move it by alpha', () => {
    const t = new LoadTracker({ alpha: 0.5 });
    expect(t.snapshot().ewmaMs).toBeUndefined();
    t.tryAdmit();
    t.finish(10);
    expect(t.snapshot().ewmaMs).toBe(10);
    t.tryAdmit();
    t.finish(20);
    expect(t.snapshot().ewmaMs).toBe(15);
    t.tryAdmit();
    t.finish(-3); // a clock step backwards counts as 0
    expect(t.snapshot().ewmaMs).toBe(7.5);
  });

  it('converges on a new service time within a few dozen jobs at the default alpha', () => {
    const t = new LoadTracker();
    for (let i = 0; i < 100; i++) {
      t.tryAdmit();
      t.finish(1);
    }
    for (let i = 0; i < 50; i++) {
      t.tryAdmit();
      t.finish(100);
    }
    // 1 + 99 * (1 - 0.9^50) = 99.5
    expect(t.snapshot().ewmaMs).toBeCloseTo(99.49, 1);
  });

  it('counts answers and errors apart from admission', () => {
    const t = new LoadTracker({ maxConcurrency: 1 });
    t.recordAnswer(true);
    t.recordAnswer(false);
    t.recordAnswer(false);
    expect(t.snapshot()).toEqual({ inFlight: 0, served: 3, errors: 2 });
  });

  it('refuses nonsense options and an unmatched finish', () => {
    expect(() => new LoadTracker({ alpha: 0 })).toThrow(RangeError);
    expect(() => new LoadTracker({ alpha: 1.5 })).toThrow(RangeError);
    expect(() => new LoadTracker({ maxConcurrency: 0 })).toThrow(RangeError);
    expect(() => new LoadTracker({ maxConcurrency: 1.5 })).toThrow(RangeError);
    expect(() => new LoadTracker().finish(1)).toThrow(/without a matching/);
  });
});
