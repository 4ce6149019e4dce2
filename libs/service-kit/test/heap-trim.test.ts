import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HeapTrimPolicy, compactHeap, startHeapTrimmer, type HeapSample, type HeapTrimOptions } from '../src/index.js';

const MB = 1024 * 1024;
const opts: HeapTrimOptions = { quietMs: 10_000, busyBelow: 0.05, growth: 1.5, minBytes: 64 * MB, gcGapMs: 6000, youngTarget: 4 * MB, youngTries: 2 };
const sample = (at: number, over: Partial<HeapSample> = {}): HeapSample => ({ at, utilization: 0.01, committed: 200 * MB, young: 2 * MB, ...over });

/** Feeds one sample a second from `from` to `to` (inclusive); returns the first second that asked for an action. */
function firstAction(p: HeapTrimPolicy, from: number, to: number, over: (t: number) => Partial<HeapSample> = () => ({})): { at: number; action: string } | undefined {
  for (let t = from; t <= to; t++) {
    const action = p.observe(sample(t * 1000, over(t)));
    if (action !== 'none') return { at: t, action };
  }
  return undefined;
}

describe('HeapTrimPolicy', () => {
  it('compacts once the process has been quiet for quietMs with a heap grown past both bounds', () => {
    const p = new HeapTrimPolicy(opts, 40 * MB);
    // Quiet from the first sample on (t=0): the trim comes at t=10, not before.
    expect(firstAction(p, 0, 30)).toEqual({ at: 10, action: 'compact' });
  });

  it('waits for growth: 1.5x and 64 MB over the heap the last trim left', () => {
    const p = new HeapTrimPolicy(opts, 100 * MB);
    // 150 MB is 1.5x but only 50 MB more; 163 MB is both.
    expect(firstAction(p, 0, 20, () => ({ committed: 150 * MB }))).toBeUndefined();
    expect(firstAction(p, 21, 40, () => ({ committed: 164 * MB }))).toEqual({ at: 21, action: 'compact' });
  });

  it('a busy interval restarts the quiet period', () => {
    const p = new HeapTrimPolicy(opts, 40 * MB);
    expect(firstAction(p, 0, 40, (t) => ({ utilization: t === 7 ? 0.5 : 0.01 }))).toEqual({ at: 17, action: 'compact' });
  });

  it('prefers a moment with no GC for gcGapMs, but trims after twice quietMs anyway', () => {
    const p = new HeapTrimPolicy(opts, 40 * MB);
    // A GC ended at t=8: quiet enough at t=10, but the gap is reached only at t=14.
    expect(firstAction(p, 0, 40, () => ({ lastGcAt: 8000 }))).toEqual({ at: 14, action: 'compact' });
    // GCs keep coming every second: the trim waits for 2 x quietMs of quiet.
    const q = new HeapTrimPolicy(opts, 40 * MB);
    expect(firstAction(q, 0, 40, (t) => ({ lastGcAt: t * 1000 - 500 }))).toEqual({ at: 20, action: 'compact' });
  });

  it('after a trim, waits for new growth and a new quiet period', () => {
    const p = new HeapTrimPolicy(opts, 40 * MB);
    expect(firstAction(p, 0, 20)?.at).toBe(10);
    p.done('compact', { committed: 60 * MB, young: 2 * MB });
    // Still 200 MB committed (>= 1.5 x 60 and 60 + 64): a new quiet period of 10 s first.
    expect(firstAction(p, 11, 40)).toEqual({ at: 20, action: 'compact' });
    p.done('compact', { committed: 190 * MB, young: 2 * MB });
    // Nothing came back: the next trim waits for 1.5 x 190 MB.
    expect(firstAction(p, 22, 60)).toBeUndefined();
  });

  it('when the young generation stayed large, asks for young GCs at GC-free moments, at most youngTries', () => {
    const p = new HeapTrimPolicy(opts, 40 * MB);
    expect(firstAction(p, 0, 20, () => ({ lastGcAt: 0 }))?.action).toBe('compact');
    p.done('compact', { committed: 92 * MB, young: 32 * MB });
    // The compaction itself ended at t=10: the next GC-free moment is t=16.
    expect(firstAction(p, 11, 30, () => ({ committed: 92 * MB, young: 32 * MB, lastGcAt: 10_000 }))).toEqual({ at: 16, action: 'young' });
    p.done('young', { committed: 92 * MB, young: 32 * MB });
    expect(firstAction(p, 17, 30, () => ({ committed: 92 * MB, young: 32 * MB, lastGcAt: 16_000 }))).toEqual({ at: 22, action: 'young' });
    p.done('young', { committed: 92 * MB, young: 32 * MB });
    // youngTries (2) spent: no more.
    expect(firstAction(p, 23, 60, () => ({ committed: 92 * MB, young: 32 * MB, lastGcAt: 22_000 }))).toBeUndefined();
  });

  it('stops asking once the young generation is small, and counts what it gave back', () => {
    const p = new HeapTrimPolicy(opts, 40 * MB);
    expect(firstAction(p, 0, 20)?.action).toBe('compact');
    p.done('compact', { committed: 92 * MB, young: 32 * MB });
    expect(firstAction(p, 11, 30, () => ({ committed: 92 * MB, young: 32 * MB }))?.action).toBe('young');
    p.done('young', { committed: 61 * MB, young: 1 * MB });
    expect(firstAction(p, 31, 60, () => ({ committed: 61 * MB, young: 1 * MB }))).toBeUndefined();
    // The base is now 61 MB: 125 MB (61 + 64) is growth enough for the next trim.
    expect(firstAction(p, 61, 90, () => ({ committed: 126 * MB, young: 1 * MB }))?.action).toBe('compact');
  });
});

/**
 * Fills the old generation with survivors scattered among garbage: every page ends up about half
 * empty, too full for the pages V8 evacuates on its own in a full GC.
 */
function fragment(): number[][] {
  const keep: number[][] = [];
  let junk: number[][] = [];
  for (let i = 0; i < 400_000; i++) {
    const s = new Array<number>(24).fill(i);
    if (i % 2 === 0) keep.push(s);
    else junk.push(s);
    // Junk survives a few scavenges (so it is promoted), then dies.
    if (junk.length > 50_000) junk = [];
  }
  return keep;
}

describe('compactHeap', () => {
  it('gives back the old-generation pages that garbage left mostly empty, which a full GC keeps', () => {
    setFlagsFromString('--expose-gc');
    const fullGc = runInNewContext('gc') as () => void;
    const keep = fragment();
    fullGc();
    const gced = getHeapStatistics();
    compactHeap();
    const after = getHeapStatistics();
    expect(keep.length).toBe(200_000);
    // The survivors (≈50 MB) stay; the committed heap comes down towards them.
    expect(gced.total_heap_size - after.total_heap_size).toBeGreaterThan(20 * MB);
  });
});

describe('startHeapTrimmer', () => {
  it('compacts once the process is quiet, logs it and counts it', async () => {
    const lines: { msg: string; action?: string; committedMb?: number[] }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const metrics = new Registry();
    // Started first, so the heap the load leaves is growth over the one it saw at start.
    const trimmer = startHeapTrimmer({ log, metrics, everyMs: 20, options: { ...opts, quietMs: 100, gcGapMs: 50, minBytes: 8 * MB, growth: 1.2 } });
    const keep = fragment();
    try {
      const until = Date.now() + 10_000;
      while (!lines.some((l) => l.action === 'compact') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    } finally {
      trimmer.stop();
    }
    expect(keep.length).toBe(200_000);
    const trim = lines.find((l) => l.action === 'compact');
    expect(trim?.msg).toBe('heap trimmed after going quiet');
    expect(trim!.committedMb![1]).toBeLessThan(trim!.committedMb![0]!);
    const counted = (await metrics.getSingleMetric('synod_heap_trims_total')!.get()).values.find((v) => v.labels.kind === 'compact');
    expect(counted?.value ?? 0).toBeGreaterThanOrEqual(1);
  });
});
