import type { Logger } from '@synod/service-kit';
import type { WorkerEntry, WorkerRegistry } from './registry.js';
import type { RouteTransport } from './transport.js';

export interface HealthCheckerOptions {
  transport: RouteTransport;
  registry: WorkerRegistry;
  /** How often every worker is pinged, in ms; 0 turns active checks off. */
  intervalMs: number;
  /** A ping unanswered within this counts as missed. */
  timeoutMs: number;
  log: Logger;
  /** A ping's outcome: answered (true) or missed (false). */
  onResult: (worker: WorkerEntry, ok: boolean) => void;
}

/**
 * Active health checks: every `intervalMs` each live worker gets a ping (`<ns>.svc.<service>.<id>._ping`
 * over NATS). An answer counts as healthy, a timeout as a missed ping (the outlier detector ejects
 * after several in a row). A ping is sent every interval whatever the earlier ones became, so a
 * worker that froze is seen missing one ping per interval, and the n-th miss in a row arrives at most
 * `intervalMs × n + timeoutMs` after it froze. No responders means the worker does not serve pings
 * (an older worker) or is gone, which requests find out anyway: it counts as neither.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly opts: HealthCheckerOptions) {
    this.log = opts.log.child({ component: 'health' });
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => this.round(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private round(): void {
    const { registry, transport, timeoutMs } = this.opts;
    for (const service of registry.services()) {
      for (const w of registry.workersOf(service)) {
        transport.ping(w, timeoutMs).then(
          () => this.report(w, true),
          (err: { code?: string }) => {
            if (err.code === 'TIMEOUT') {
              this.log.debug({ worker: w.id }, 'ping missed');
              this.report(w, false);
            } else if (err.code !== 'NO_RESPONDERS' && err.code !== 'SHUTTING_DOWN') {
              // Any other answer (an error envelope) still proves the worker is alive.
              this.report(w, true);
            }
          },
        );
      }
    }
  }

  private report(w: WorkerEntry, ok: boolean): void {
    // A worker that left (or came back as a new entry) meanwhile: the outcome is stale.
    if (!this.stopped && this.opts.registry.get(w.id) === w) this.opts.onResult(w, ok);
  }
}
