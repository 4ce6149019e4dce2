import { subjects } from '@synod/protocol';
import { busRequest, type Logger, type NatsConnection } from '@synod/service-kit';
import type { WorkerEntry, WorkerRegistry } from './registry.js';

export interface HealthCheckerOptions {
  nc: NatsConnection;
  registry: WorkerRegistry;
  namespace: string;
  /** How often every worker is pinged, in ms; 0 turns active checks off. */
  intervalMs: number;
  /** A ping unanswered within this counts as missed. */
  timeoutMs: number;
  log: Logger;
  /** A ping's outcome: answered (true) or missed (false). */
  onResult: (worker: WorkerEntry, ok: boolean) => void;
}

/**
 * Active health checks: every `intervalMs` each live worker gets a request on its ping subject
 * (`<ns>.svc.<service>.<id>._ping`). An answer counts as healthy, a timeout as a missed ping (the
 * outlier detector ejects after several in a row). No responders means the worker does not serve
 * pings (an older worker) or is gone, which requests find out anyway: it counts as neither. A
 * worker whose previous ping is still out is not pinged again.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private readonly outstanding = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly opts: HealthCheckerOptions) {
    this.log = opts.log.child({ component: 'health' });
  }

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => this.round(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private round(): void {
    const { nc, registry, namespace } = this.opts;
    if (nc.isClosed() || nc.isDraining()) return;
    for (const service of registry.services()) {
      for (const w of registry.workersOf(service)) {
        if (this.outstanding.has(w.id)) continue;
        this.outstanding.add(w.id);
        busRequest(nc, subjects.workerPing(namespace, w.service, w.id), {}, { timeoutMs: this.opts.timeoutMs, requestId: `ping-${w.id}` })
          .then(
            () => this.opts.onResult(w, true),
            (err: { code?: string }) => {
              if (err.code === 'TIMEOUT') {
                this.log.debug({ worker: w.id }, 'ping missed');
                this.opts.onResult(w, false);
              } else if (err.code !== 'NO_RESPONDERS' && err.code !== 'SHUTTING_DOWN') {
                // Any other answer (an error envelope) still proves the worker is alive.
                this.opts.onResult(w, true);
              }
            },
          )
          .finally(() => this.outstanding.delete(w.id));
      }
    }
  }
}
