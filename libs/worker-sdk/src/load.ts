import type { WorkerLoad } from '@synod/protocol';

export interface LoadTrackerOptions {
  /** Jobs admitted at once; undefined means no limit. */
  maxConcurrency?: number;
  /**
   * Weight of each new job's service time in the moving average (0 < alpha <= 1). The default 0.1
   * makes the average follow roughly the last 10 to 20 jobs.
   */
  alpha?: number;
}

/**
 * What a worker knows about its own load: jobs admitted and running, jobs answered, errors, and an
 * exponentially weighted moving average of its service time. Pure: the caller measures durations
 * and reports them, so the numbers are testable without a clock.
 */
export class LoadTracker {
  private running = 0;
  private answered = 0;
  private failed = 0;
  private ewma: number | undefined;
  private readonly alpha: number;

  constructor(private readonly opts: LoadTrackerOptions = {}) {
    this.alpha = opts.alpha ?? 0.1;
    if (!(this.alpha > 0 && this.alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${this.alpha}`);
    if (opts.maxConcurrency !== undefined && !(Number.isInteger(opts.maxConcurrency) && opts.maxConcurrency >= 1)) {
      throw new RangeError(`maxConcurrency must be a positive integer, got ${opts.maxConcurrency}`);
    }
  }

  get maxConcurrency(): number | undefined {
    return this.opts.maxConcurrency;
  }

  /** Jobs admitted and not finished yet. */
  get inFlight(): number {
    return this.running;
  }

  /** Takes a slot for a job; false when the worker is at its concurrency limit. */
  tryAdmit(): boolean {
    if (this.opts.maxConcurrency !== undefined && this.running >= this.opts.maxConcurrency) return false;
    this.running++;
    return true;
  }

  /** Gives back an admitted job's slot and folds its service time (ms) into the average. */
  finish(serviceTimeMs: number): void {
    if (this.running === 0) throw new Error('finish() without a matching tryAdmit()');
    this.running--;
    const x = Math.max(0, serviceTimeMs);
    this.ewma = this.ewma === undefined ? x : this.ewma + this.alpha * (x - this.ewma);
  }

  /** Counts one answered request (admitted or refused). */
  recordAnswer(ok: boolean): void {
    this.answered++;
    if (!ok) this.failed++;
  }

  /** The load as it goes into an announce or heartbeat (`ewmaMs` once a job has finished). */
  snapshot(): WorkerLoad {
    const load: WorkerLoad = { inFlight: this.running, served: this.answered, errors: this.failed };
    if (this.ewma !== undefined) load.ewmaMs = Math.round(this.ewma * 1000) / 1000;
    return load;
  }
}
