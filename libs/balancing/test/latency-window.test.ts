import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyWindow } from '../src/index.js';

describe('LatencyWindow', () => {
  it('answers nothing until it holds minSamples', () => {
    const w = new LatencyWindow({ windowMs: 1000, minSamples: 5 });
    for (let i = 0; i < 4; i++) w.record(10, i);
    expect(w.quantile(0.99, 4)).toBeUndefined();
    w.record(10, 5);
    expect(w.quantile(0.99, 5)).toBeGreaterThanOrEqual(10);
  });

  it('gives a quantile within one bucket (5%) above the true one (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.06, max: 50_000, noNaN: true }), { minLength: 20, maxLength: 400 }), fc.double({ min: 0.5, max: 1, noNaN: true }), (samples, q) => {
        const w = new LatencyWindow({ windowMs: 1e9, minSamples: 1 });
        for (const s of samples) w.record(s, 0);
        const sorted = [...samples].sort((a, b) => a - b);
        const truth = sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
        const got = w.quantile(q, 0)!;
        expect(got).toBeGreaterThanOrEqual(truth * (1 - 1e-9));
        expect(got).toBeLessThanOrEqual(truth * 1.05 * (1 + 1e-9));
      }),
    );
  });

  it('forgets samples older than the window, half a window at a time', () => {
    const w = new LatencyWindow({ windowMs: 1000, minSamples: 1 });
    for (let i = 0; i < 100; i++) w.record(500, 0);
    expect(w.quantile(0.99, 100)).toBeGreaterThanOrEqual(500);
    for (let i = 0; i < 100; i++) w.record(2, 600);
    // Both halves held: the slow half is still there.
    expect(w.count(600)).toBe(200);
    expect(w.quantile(0.99, 600)).toBeGreaterThanOrEqual(500);
    // One more half later the slow samples are gone.
    expect(w.count(1100)).toBe(100);
    expect(w.quantile(0.99, 1100)).toBeLessThan(3);
    expect(w.count(5000)).toBe(0);
  });
});
