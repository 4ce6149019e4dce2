import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from './logger.js';

/**
 * When to give memory back after a burst.
 *
 * V8 sizes its heap for throughput: after a fast load the old generation keeps the pages it grew to
 * (live objects scattered between the holes the garbage left) and the young generation stays at its
 * largest size; V8's own memory reducer starts only after some later full GC, tens of seconds later
 * or never. This policy asks for one compacting GC once the process has been quiet for `quietMs`
 * with a heap grown by `growth` since the last trim (and by `minBytes` at least). V8 shrinks the
 * young generation after a GC only if the allocation rate it measured since the GCs of the last 5 s
 * is low, which a trim right after some other GC (or during a snapshot) does not see; so if the young
 * generation is still large afterwards, the policy asks for cheap young-generation GCs at quiet
 * moments with no GC for `gcGapMs`, up to `youngTries` of them.
 *
 * Pure: the caller feeds samples and runs the GCs.
 */
export interface HeapTrimOptions {
  /** How long the event loop must stay below `busyBelow` utilisation before a trim. */
  quietMs: number;
  /** Event-loop utilisation (0..1) under which an interval counts as quiet. */
  busyBelow: number;
  /** Trim only when the committed heap is this many times the one after the last trim... */
  growth: number;
  /** ...and this many bytes above it. */
  minBytes: number;
  /** A moment counts as GC-free when no GC ended for this long. */
  gcGapMs: number;
  /** Young generation (bytes) small enough after a trim. */
  youngTarget: number;
  /** Young-generation GCs to try at most after a trim that left it larger. */
  youngTries: number;
}

export interface HeapSample {
  /** Monotonic ms at the end of the interval. */
  at: number;
  /** Event-loop utilisation over the interval ending at `at`. */
  utilization: number;
  /** Heap committed by V8 now (bytes). */
  committed: number;
  /** Young generation committed now (bytes). */
  young: number;
  /** Monotonic ms at which the last GC ended (undefined: none seen). */
  lastGcAt?: number;
}

export type HeapTrimAction = 'none' | 'compact' | 'young';

export class HeapTrimPolicy {
  private quietSince: number | undefined;
  private lastAt: number | undefined;
  private base: number;
  private youngLeft = 0;

  constructor(
    private readonly opts: HeapTrimOptions,
    /** Committed heap at start: the first trim waits for growth over it. */
    initialCommitted: number,
  ) {
    this.base = initialCommitted;
  }

  /** Feed one sample; then run the action it returns and report it with `done`. */
  observe(s: HeapSample): HeapTrimAction {
    const from = this.lastAt ?? s.at;
    this.lastAt = s.at;
    if (s.utilization >= this.opts.busyBelow) {
      this.quietSince = undefined;
      return 'none';
    }
    this.quietSince ??= from;
    const quiet = s.at - this.quietSince;
    const gcFree = s.lastGcAt === undefined || s.at - s.lastGcAt >= this.opts.gcGapMs;
    const grown = s.committed >= Math.max(this.base * this.opts.growth, this.base + this.opts.minBytes);
    if (grown && quiet >= this.opts.quietMs && (gcFree || quiet >= 2 * this.opts.quietMs)) return 'compact';
    if (this.youngLeft > 0 && s.young > this.opts.youngTarget && gcFree) return 'young';
    return 'none';
  }

  /** Report the action run and what it left. */
  done(action: Exclude<HeapTrimAction, 'none'>, after: { committed: number; young: number }): void {
    if (action === 'compact') {
      // The next trim waits for growth over what this one left, and for a new quiet period.
      this.base = after.committed;
      this.quietSince = undefined;
      this.youngLeft = this.opts.youngTries;
    } else {
      this.youngLeft--;
      // What the young generation gave back is not growth the next trim should wait for.
      this.base = Math.min(this.base, after.committed);
    }
    if (after.young <= this.opts.youngTarget) this.youngLeft = 0;
  }
}

export interface HeapTrimmer {
  stop(): void;
}

/**
 * Defaults for a replica: 64 MB and 50 % of growth, then 10 s at under 5 % loop utilisation, 6 s
 * after the last GC; then up to 5 young-generation GCs until it is back to 4 MB.
 */
export const DEFAULT_HEAP_TRIM: HeapTrimOptions = {
  quietMs: 10_000,
  busyBelow: 0.05,
  growth: 1.5,
  minBytes: 64 * 1024 * 1024,
  gcGapMs: 6000,
  youngTarget: 4 * 1024 * 1024,
  youngTries: 5,
};

let gcFn: ((o?: { type: 'minor' | 'major' }) => void) | undefined;

function gc(type: 'minor' | 'major'): void {
  if (!gcFn) {
    // The flag is read when a context is created: the main context keeps no `gc` global.
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as typeof gcFn;
  }
  // No argument is a full GC; Node 20's V8 reads only `type: 'minor'` (any other object is minor too).
  if (type === 'major') gcFn!();
  else gcFn!({ type: 'minor' });
}

/**
 * One compacting full GC: `--compact-on-every-full-gc` is on only for this collection, so V8
 * evacuates every fragmented page, as its memory reducer does, not only the most fragmented ones.
 */
export function compactHeap(): void {
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc('major');
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

function youngBytes(): number {
  return getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_size ?? 0;
}

/** Samples the event loop and heap every `everyMs` and runs the GCs the policy asks for. */
export function startHeapTrimmer(o: { log: Logger; metrics?: Registry; everyMs?: number; options?: HeapTrimOptions }): HeapTrimmer {
  const policy = new HeapTrimPolicy(o.options ?? DEFAULT_HEAP_TRIM, getHeapStatistics().total_heap_size);
  const trims = o.metrics
    ? new Counter({
        name: 'synod_heap_trims_total',
        help: 'GCs run to give memory back once the process went quiet with a grown heap (kind: compact, young)',
        labelNames: ['kind'],
        registers: [o.metrics],
      })
    : undefined;
  let lastGcAt: number | undefined;
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) lastGcAt = Math.max(lastGcAt ?? 0, e.startTime + e.duration);
  });
  gcs.observe({ entryTypes: ['gc'] });
  let elu = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, elu).utilization;
    elu = now;
    const before = { committed: getHeapStatistics().total_heap_size, young: youngBytes() };
    const action = policy.observe({ at: performance.now(), utilization, ...before, lastGcAt });
    if (action === 'none') return;
    const sinceGcMs = lastGcAt === undefined ? null : Math.round(performance.now() - lastGcAt);
    const t0 = performance.now();
    if (action === 'compact') compactHeap();
    else gc('minor');
    const after = { committed: getHeapStatistics().total_heap_size, young: youngBytes() };
    policy.done(action, after);
    trims?.inc({ kind: action });
    const mb = (n: number) => Math.round(n / 1048576);
    o.log.info(
      { action, committedMb: [mb(before.committed), mb(after.committed)], youngMb: [mb(before.young), mb(after.young)], sinceGcMs, pauseMs: Math.round(performance.now() - t0) },
      'heap trimmed after going quiet',
    );
  }, o.everyMs ?? 1000);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      gcs.disconnect();
    },
  };
}
