import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DropSummary, createRootLogger, normalizeReason } from '../src/index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createRootLogger({ service: 't', instance: 'i', destination }) };
}

describe('DropSummary', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('logs the first drop at once, then one summary per interval however many follow', () => {
    const { lines, log } = capture();
    const drops = new DropSummary(log, { msg: 'dropped', intervalMs: 1000 });
    drops.record('invalid peer message: term is 2.5, not a non-negative integer', 'first');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'dropped', level: 40, count: 1, examples: { 'invalid peer message: term is N.N, not a non-negative integer': 'first' } });
    for (let i = 0; i < 2000; i++) drops.record(`peer message of ${i} bytes is too short`, `example ${i}`);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ count: 2000, dropped: { 'peer message of N bytes is too short': 2000 }, examples: { 'peer message of N bytes is too short': 'example 0' } });
    // Quiet interval: nothing more; the next drop is logged at once again.
    vi.advanceTimersByTime(5000);
    expect(lines).toHaveLength(2);
    drops.record('again');
    expect(lines).toHaveLength(3);
    expect(drops.total).toBe(2002);
  });

  it('keeps at most maxReasons reasons apart per line and counts the rest under other', () => {
    const { lines, log } = capture();
    const drops = new DropSummary(log, { msg: 'dropped', intervalMs: 1000, maxReasons: 4 });
    drops.record('seed');
    for (let i = 0; i < 50; i++) drops.record(`reason ${String.fromCharCode(97 + (i % 26))}`);
    drops.stop();
    const summary = lines[1]!;
    expect(Object.keys(summary.dropped as object)).toHaveLength(5);
    expect((summary.dropped as Record<string, number>).other).toBeGreaterThan(0);
    expect(summary.count).toBe(50);
  });

  it('normalizes reasons: numbers and quoted values elided, long ones cut', () => {
    expect(normalizeReason('node id "zz top" cannot be encoded at 17')).toBe('node id "…" cannot be encoded at N');
    expect(normalizeReason('x'.repeat(500))).toHaveLength(80);
  });
});
