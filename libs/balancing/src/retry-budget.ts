/** Settings of a retry budget (Finagle's RetryBudget, as a token bucket). */
export interface RetryBudgetOptions {
  /** Retries allowed per request, as a ratio: 0.2 lets retries add at most 20% to the load. */
  ratio: number;
  /** Retries always allowed per second even with no traffic (the floor), refilled continuously. */
  minPerSecond: number;
  /** Most tokens the bucket holds (bursts of retries after a quiet period). */
  maxTokens: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetOptions = { ratio: 0.2, minPerSecond: 10, maxTokens: 100 };

/**
 * A token bucket bounding retries: every first attempt deposits `ratio` of a token, time deposits
 * `minPerSecond` tokens per second, and a retry withdraws one whole token or is refused. Over any
 * period of T seconds with R requests, retries ≤ ratio·R + minPerSecond·T + the starting balance, so
 * retries cannot multiply load when a whole service fails. Clock injected.
 */
export class RetryBudget {
  private tokens: number;
  private stamp: number | undefined;

  constructor(
    private readonly opts: RetryBudgetOptions = DEFAULT_RETRY_BUDGET,
    /** Tokens at start: the floor's worth of one second by default. */
    initialTokens = Math.min(opts.maxTokens, opts.minPerSecond),
  ) {
    this.tokens = initialTokens;
  }

  /** A first attempt was sent. */
  deposit(now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.opts.maxTokens, this.tokens + this.opts.ratio);
  }

  /** Takes a token for one retry; false when the budget is spent. */
  tryWithdraw(now: number): boolean {
    this.refill(now);
    // A small epsilon: 5 deposits of 0.2 make one token despite floating point.
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }

  balance(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    if (this.stamp !== undefined && now > this.stamp) {
      this.tokens = Math.min(this.opts.maxTokens, this.tokens + ((now - this.stamp) / 1000) * this.opts.minPerSecond);
    }
    this.stamp = this.stamp === undefined ? now : Math.max(this.stamp, now);
  }
}
