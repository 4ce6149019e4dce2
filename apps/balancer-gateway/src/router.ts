import { createStrategy, type RandomSource, type Strategy, type StrategyName } from '@synod/balancing';
import { SynodError, subjects } from '@synod/protocol';
import { busRequest, type Logger, type NatsConnection } from '@synod/service-kit';
import type { WorkerEntry, WorkerRegistry } from './registry.js';

export interface RouteRequest {
  service: string;
  endpoint: string;
  /** The request body, already checked to be JSON. */
  body: Uint8Array;
  requestId: string;
  timeoutMs: number;
}

export type RouteResult =
  | { ok: true; result: unknown; worker: string; attempts: number }
  /** `worker` is the last worker tried, when one was. */
  | { ok: false; error: SynodError; worker: string | undefined; attempts: number };

export interface RouterOptions {
  nc: NatsConnection;
  registry: WorkerRegistry;
  namespace: string;
  strategy: StrategyName;
  random: RandomSource;
  log: Logger;
  now?: () => number;
  onAttempt?: (worker: WorkerEntry, outcome: 'ok' | 'error', code: string | undefined) => void;
}

/**
 * Picks a worker for each request with the service's strategy and sends the request to that
 * worker's instance subject. A worker with no subscriber (NO_RESPONDERS: it died or is gone) never
 * got the request, so it is dropped from the registry and another worker is tried, within the
 * request's deadline. Every other failure is answered as it is (retries on other failures come with
 * the retry budget).
 */
export class Router {
  private readonly strategies = new Map<string, Strategy>();
  private readonly now: () => number;

  constructor(private readonly opts: RouterOptions) {
    this.now = opts.now ?? Date.now;
  }

  async route(req: RouteRequest): Promise<RouteResult> {
    const { registry } = this.opts;
    const fail = (error: SynodError, worker: string | undefined, attempts: number): RouteResult => ({ ok: false, error, worker, attempts });
    if (!registry.isKnownService(req.service)) {
      return fail(new SynodError('UNKNOWN_SERVICE', `no worker has announced service "${req.service}"`), undefined, 0);
    }
    if (!registry.isKnownEndpoint(req.service, req.endpoint)) {
      return fail(new SynodError('UNKNOWN_ENDPOINT', `service "${req.service}" has no endpoint "${req.endpoint}"`), undefined, 0);
    }
    const deadline = this.now() + req.timeoutMs;
    const tried = new Set<string>();
    let last: string | undefined;
    for (let attempt = 1; ; attempt++) {
      const candidates = registry.workersOf(req.service).filter((w) => w.endpoints.has(req.endpoint) && !tried.has(w.id));
      const worker = this.strategyFor(req.service).pick(candidates);
      if (!worker) {
        const error = new SynodError('NO_WORKERS', `service "${req.service}" has no live worker for "${req.endpoint}"`, {
          details: { service: req.service, tried: [...tried] },
        });
        return fail(error, last, attempt - 1);
      }
      tried.add(worker.id);
      last = worker.id;
      const remaining = deadline - this.now();
      if (remaining <= 0) return fail(new SynodError('TIMEOUT', `no reply within ${req.timeoutMs} ms`), last, attempt - 1);
      worker.inFlight++;
      try {
        const result = await busRequest(
          this.opts.nc,
          subjects.workerEndpoint(this.opts.namespace, req.service, worker.id, req.endpoint),
          req.body,
          { timeoutMs: remaining, requestId: req.requestId },
        );
        worker.served++;
        this.opts.onAttempt?.(worker, 'ok', undefined);
        return { ok: true, result, worker: worker.id, attempts: attempt };
      } catch (err) {
        const e = err instanceof SynodError ? err : new SynodError('INTERNAL', String(err), { cause: err });
        worker.errors++;
        this.opts.onAttempt?.(worker, 'error', e.code);
        if (e.code === 'NO_RESPONDERS') {
          this.opts.log.warn({ worker: worker.id, service: req.service }, 'worker has no responders: dropped from the registry');
          registry.remove(worker.id, 'no-responders');
          continue;
        }
        return fail(e, worker.id, attempt);
      } finally {
        worker.inFlight--;
      }
    }
  }

  private strategyFor(service: string): Strategy {
    let s = this.strategies.get(service);
    if (!s) {
      s = createStrategy(this.opts.strategy, { random: this.opts.random });
      this.strategies.set(service, s);
    }
    return s;
  }
}
