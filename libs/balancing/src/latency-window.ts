/** Settings of a {@link LatencyWindow}. */
export interface LatencyWindowOptions {
  /** Span of the samples a quantile covers, in ms: between half of it and all of it, as it slides in halves. */
  windowMs: number;
  /** Samples the window must hold before it answers a quantile. */
  minSamples: number;
}

export const DEFAULT_LATENCY_WINDOW: LatencyWindowOptions = { windowMs: 10_000, minSamples: 20 };

/** Bucket boundaries grow by 5% from 0.05 ms: a quantile is known within 5%, up to about 100 s. */
const LOWEST_MS = 0.05;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(100_000 / LOWEST_MS) / LOG_GROWTH) + 1;
/** A cached quantile is recomputed after this many new samples (or when the window slides). */
const RECOMPUTE_EVERY = 32;

/**
 * Latency quantiles of one member over a sliding window, for a per-try timeout (a hedge is sent
 * once an attempt outlives the member's p99). Samples go into log-spaced buckets, so memory is
 * fixed and a quantile is a bucket's upper bound (never below the true value by more than one
 * bucket). The window is two halves of `windowMs / 2`: when the current half is over it becomes the
 * previous one, so a quantile covers between half a window and a whole one of recent samples. Pure:
 * time comes in as arguments.
 */
export class LatencyWindow {
  private current = new Uint32Array(BUCKETS);
  private previous = new Uint32Array(BUCKETS);
  private currentCount = 0;
  private previousCount = 0;
  private halfStart: number | undefined;
  private cached: { q: number; value: number; sinceRecompute: number } | undefined;

  constructor(private readonly opts: LatencyWindowOptions = DEFAULT_LATENCY_WINDOW) {}

  record(latencyMs: number, now: number): void {
    this.slide(now);
    const i = bucketOf(latencyMs);
    this.current[i] = this.current[i]! + 1;
    this.currentCount++;
    if (this.cached) this.cached.sinceRecompute++;
  }

  /** Samples in the window at `now`. */
  count(now: number): number {
    this.slide(now);
    return this.currentCount + this.previousCount;
  }

  /** The `q` quantile (0 < q ≤ 1) in ms, or undefined while the window holds fewer than `minSamples`. */
  quantile(q: number, now: number): number | undefined {
    this.slide(now);
    const c = this.cached;
    if (c && c.q === q && c.sinceRecompute < RECOMPUTE_EVERY) return c.value;
    const value = this.compute(q);
    this.cached = value === undefined ? undefined : { q, value, sinceRecompute: 0 };
    return value;
  }

  private compute(q: number): number | undefined {
    const total = this.currentCount + this.previousCount;
    if (total < this.opts.minSamples || total === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.current[i]! + this.previous[i]!;
      if (seen >= rank) return upperBoundOf(i);
    }
    return upperBoundOf(BUCKETS - 1);
  }

  private slide(now: number): void {
    const half = this.opts.windowMs / 2;
    if (this.halfStart === undefined) {
      this.halfStart = now;
      return;
    }
    const elapsed = now - this.halfStart;
    if (elapsed < half) return;
    if (elapsed >= 2 * half) {
      this.previous.fill(0);
      this.previousCount = 0;
      this.current.fill(0);
      this.currentCount = 0;
      this.halfStart = now;
    } else {
      [this.previous, this.current] = [this.current, this.previous];
      this.current.fill(0);
      this.previousCount = this.currentCount;
      this.currentCount = 0;
      this.halfStart += half;
    }
    this.cached = undefined;
  }
}

function bucketOf(ms: number): number {
  if (!(ms > LOWEST_MS)) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log(ms / LOWEST_MS) / LOG_GROWTH) + 1);
}

/** The upper bound of bucket i, in ms (bucket 0 holds everything up to the lowest bound). */
function upperBoundOf(i: number): number {
  return LOWEST_MS * Math.pow(GROWTH, i);
}
