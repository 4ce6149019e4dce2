import { monitorEventLoopDelay, performance, type ELDHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from '@synod/service-kit';

export interface LagMonitorOptions {
  /** Lag (ms) above which the process sheds load; 0 turns shedding off. */
  thresholdMs: number;
  /** The measurement window, in ms. */
  windowMs: number;
  /** Where the lag gauge goes (`<prefix>_event_loop_lag_seconds`); none without it. */
  metrics?: { registry: Registry; prefix: string };
}

/**
 * Watches the event loop's delay (perf_hooks' monitorEventLoopDelay): every `windowMs` the worst
 * delay of the window, less the sampling resolution, is the lag. While the last window's lag is over
 * `thresholdMs` the gateway sheds load (answers 503 at once) rather than queue more work on a loop
 * that cannot keep up. The window's own timer being overdue by more than the threshold counts too,
 * so requests that queued up during a stall are shed as soon as the loop resumes. A threshold of 0
 * turns it off. The last window's lag is a gauge.
 */
export class LagMonitor {
  private static readonly RESOLUTION_MS = 10;
  private histogram: ELDHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lagMs = 0;
  private sampledAt = performance.now();

  private readonly thresholdMs: number;
  private readonly windowMs: number;

  constructor(opts: LagMonitorOptions) {
    this.thresholdMs = opts.thresholdMs;
    this.windowMs = opts.windowMs;
    if (opts.metrics) {
      const lagMs = (): number => this.lagMs;
      new Gauge({
        name: `${opts.metrics.prefix}_event_loop_lag_seconds`,
        help: 'Worst event-loop delay of the last window',
        registers: [opts.metrics.registry],
        collect() {
          this.set(lagMs() / 1000);
        },
      });
    }
  }

  start(): void {
    if (this.thresholdMs <= 0) return;
    this.histogram = monitorEventLoopDelay({ resolution: LagMonitor.RESOLUTION_MS });
    this.histogram.enable();
    this.sampledAt = performance.now();
    this.timer = setInterval(() => this.sample(), this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram?.disable();
  }

  /** The lag of the last window, in ms. */
  get lag(): number {
    return this.lagMs;
  }

  get shedding(): boolean {
    if (this.thresholdMs <= 0) return false;
    return this.lagMs > this.thresholdMs || performance.now() - this.sampledAt - this.windowMs > this.thresholdMs;
  }

  private sample(): void {
    const h = this.histogram;
    if (!h) return;
    const now = performance.now();
    // This timer's own lateness is a lag sample too (it may run before the histogram records a stall).
    const late = now - this.sampledAt - this.windowMs;
    this.sampledAt = now;
    this.lagMs = Math.max(late, h.count > 0 ? h.max / 1e6 - LagMonitor.RESOLUTION_MS : 0, 0);
    h.reset();
  }
}
