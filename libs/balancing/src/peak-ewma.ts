/** Settings of a peak-EWMA latency estimate. */
export interface PeakEwmaOptions {
  /** Time constant of the decay, in ms: after `decayMs` an old sample weighs 1/e of what it did. */
  decayMs: number;
  /** A failure counts as a sample of at least this many ms, so a worker failing fast never looks fast. */
  failurePenaltyMs: number;
}

export const DEFAULT_PEAK_EWMA: PeakEwmaOptions = { decayMs: 10_000, failurePenaltyMs: 500 };

/**
 * Finagle's peak-EWMA latency estimate for one member. A sample above the estimate replaces it at
 * once (the peak: a worker turning slow is noticed on its first slow answer); a sample below it is
 * blended in with weight `1 - exp(-Δt / decayMs)`, Δt being the time since the estimate was last
 * touched. Reading decays the estimate towards 0 over time, so a member that stopped being picked
 * because it was slow is tried again after a while and can prove it recovered.
 */
export class PeakEwma {
  private estimate = 0;
  private stamp: number | undefined;

  constructor(private readonly opts: PeakEwmaOptions = DEFAULT_PEAK_EWMA) {}

  /** Records one request's latency (or a failure, counted as at least the failure penalty). */
  observe(latencyMs: number, ok: boolean, now: number): void {
    const sample = Math.max(0, ok ? latencyMs : Math.max(latencyMs, this.opts.failurePenaltyMs));
    this.blend(sample, now);
  }

  /** The estimate at `now`, in ms (decayed since it was last touched). */
  value(now: number): number {
    this.blend(0, now);
    return this.estimate;
  }

  /**
   * The load cost of sending one more request (Finagle: `estimate × (outstanding + 1)`). A member
   * with no sample yet costs 0 while idle and a large penalty once it has a request outstanding, so
   * a new member gets one probe before it is judged. `oldestOutstandingMs`, the age of the oldest
   * request outstanding, is a lower bound of the latency it will show, so the estimate is at least that.
   */
  cost(now: number, outstanding: number, oldestOutstandingMs = 0): number {
    const estimate = this.value(now);
    if (estimate === 0 && outstanding > 0) return UNMEASURED_PENALTY + outstanding;
    return Math.max(estimate, oldestOutstandingMs) * (outstanding + 1);
  }

  private blend(sample: number, now: number): void {
    const elapsed = this.stamp === undefined ? 0 : Math.max(0, now - this.stamp);
    // A clock that went backwards keeps the later stamp.
    this.stamp = this.stamp === undefined ? now : Math.max(this.stamp, now);
    if (sample > this.estimate) {
      this.estimate = sample;
      return;
    }
    const w = Math.exp(-elapsed / this.opts.decayMs);
    this.estimate = this.estimate * w + sample * (1 - w);
  }
}

/** The cost of a member with requests outstanding and no latency sample yet. */
export const UNMEASURED_PENALTY = 1e9;
