import {
  ConcurrencyLimiter,
  OutlierDetector,
  PeakEwma,
  RetryBudget,
  SlowStart,
  createStrategy,
  type Ejection,
  type OutlierOptions,
  type PeakEwmaOptions,
  type RandomSource,
  type RetryBudgetOptions,
  type SlowStartOptions,
  type Strategy,
  type StrategyName,
} from '@synod/balancing';
import { SynodError, subjects, type ErrorCode, type WorkerView } from '@synod/protocol';
import { busRequest, type BusRequester, type Logger, type NatsConnection } from '@synod/service-kit';
import type { RegistryChange, WorkerEntry, WorkerRegistry } from './registry.js';
import { isListedIdempotent } from './settings.js';

export interface RouteRequest {
  service: string;
  endpoint: string;
  /** The request body, already checked to be JSON. */
  body: Uint8Array;
  requestId: string;
  timeoutMs: number;
  /** The routing key for consistent hashing (header or body field), when the request has one. */
  key?: string;
  /** True when the client asked for a shorter deadline than the gateway's: its timeouts are not the worker's fault. */
  clientDeadline?: boolean;
}

export type RouteResult =
  | { ok: true; result: unknown; worker: string; attempts: number }
  /** `worker` is the last worker tried, when one was. */
  | { ok: false; error: SynodError; worker: string | undefined; attempts: number };

export interface RetryOptions {
  budget: RetryBudgetOptions;
  /** Most attempts per request, the first included (attempts that reached no worker are free). */
  maxAttempts: number;
  /** Longest one attempt at an idempotent endpoint may take, in ms; 0: the whole remaining deadline. */
  attemptTimeoutMs: number;
  /** `service/endpoint` (or `service/*`) the gateway treats as idempotent besides what workers declare. */
  idempotent: ReadonlySet<string>;
}

export interface RouterOptions {
  nc: NatsConnection;
  /** Requests to workers go through this (one inbox subscription) when given, else `nc.request`. */
  requester?: BusRequester;
  registry: WorkerRegistry;
  namespace: string;
  /** The default strategy, and the per-service overrides. */
  strategy: StrategyName;
  overrides?: ReadonlyMap<string, StrategyName>;
  random: RandomSource;
  log: Logger;
  now?: () => number;
  ewma: PeakEwmaOptions;
  slowStart: SlowStartOptions;
  outlier: OutlierOptions;
  retry: RetryOptions;
  /** Requests per worker at once when the worker states no limit; 0: unlimited. */
  defaultMaxConcurrency: number;
  /** Requests that may wait for a free worker at once (all services); beyond, 503 at once. */
  maxPending: number;
  /** True while the gateway sheds load (its event loop lags). */
  shedding?: () => boolean;
  onAttempt?: (worker: WorkerEntry, outcome: 'ok' | 'error', code: string | undefined) => void;
  onEjection?: (worker: WorkerEntry, ejection: Ejection) => void;
  onRetry?: (service: string, code: string) => void;
  onRejected?: (service: string, reason: 'no-capacity' | 'queue-full' | 'lag' | 'budget') => void;
}

/** A worker joining this long after the gateway started is new (earlier: the gateway discovering it). */
const DISCOVERY_GRACE_MS = 1000;
/** Failures that say something about the worker's health (not the client's request). */
const WORKER_FAULTS = new Set<ErrorCode>(['TIMEOUT', 'INTERNAL', 'BAD_GATEWAY']);

interface Waiter {
  wake: () => void;
}

interface ServiceState {
  strategy: Strategy;
  outlier: OutlierDetector;
  budget: RetryBudget;
  slowStart: SlowStart;
  waiters: Waiter[];
}

/**
 * Routes each request to one worker of its service. Per service: a strategy (the default or an
 * override, changeable at runtime), slow start, passive outlier detection (fed by requests and by
 * the health checker's pings) and a retry budget. Per worker: a concurrency limit; when no eligible
 * worker has a free slot the request waits in a bounded queue until one frees up or its deadline
 * passes, and is refused with OVERLOADED (503) at once when the queue is full.
 *
 * A worker with no subscriber (NO_RESPONDERS: it died or is gone) never got the request, so it is
 * dropped from the registry and another worker is tried, outside the retry budget. Worker overload
 * and draining (OVERLOADED, SHUTTING_DOWN), and timeouts of idempotent endpoints, are retried on a
 * different worker within the retry budget, the attempt cap and the request's deadline; the worker
 * gets the remaining deadline in the request header. Every other failure is answered as it is.
 */
export class Router {
  private readonly services = new Map<string, ServiceState>();
  /** Strategies set through the admin route (over LB_STRATEGY_OVERRIDES, over LB_STRATEGY). */
  private readonly runtimeStrategies = new Map<string, StrategyName>();
  private readonly limiter = new ConcurrencyLimiter();
  private readonly latency = new Map<string, PeakEwma>();
  private readonly peakInFlight = new Map<string, number>();
  private readonly now: () => number;
  private readonly startedAt: number;
  private pendingCount = 0;
  private pendingPeakCount = 0;

  constructor(private readonly opts: RouterOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** Requests waiting for a free worker right now, and the most that ever waited at once. */
  get pending(): number {
    return this.pendingCount;
  }

  get pendingPeak(): number {
    return this.pendingPeakCount;
  }

  /** Most requests this gateway ever had in flight at once on a worker. */
  inFlightPeak(id: string): number {
    return this.peakInFlight.get(id) ?? 0;
  }

  strategyOf(service: string): StrategyName {
    return this.runtimeStrategies.get(service) ?? this.opts.overrides?.get(service) ?? this.opts.strategy;
  }

  /** Sets (or with undefined clears) a service's strategy at runtime; its state starts fresh. */
  setStrategy(service: string, strategy: StrategyName | undefined): void {
    if (strategy === undefined) this.runtimeStrategies.delete(service);
    else this.runtimeStrategies.set(service, strategy);
    const state = this.services.get(service);
    if (state) state.strategy = this.newStrategy(service);
  }

  /** Follows registry changes: forgets workers that left, and wakes the service's waiters. */
  onRegistryChange(change: RegistryChange): void {
    const w = change.worker;
    const state = this.services.get(w.service);
    if (change.kind === 'left') {
      state?.strategy.forget?.(w.id);
      state?.outlier.forget(w.id);
      this.latency.delete(w.id);
      this.peakInFlight.delete(w.id);
    }
    // Waiters look again: a new worker may have a free slot; a service left empty answers NO_WORKERS at once.
    if (state) for (const waiter of state.waiters.splice(0)) waiter.wake();
  }

  /** An active health check's outcome (answered, or missed). */
  recordPing(worker: WorkerEntry, ok: boolean): void {
    const state = this.state(worker.service);
    const total = this.opts.registry.workersOf(worker.service).length;
    const ejection = state.outlier.recordPing(worker.id, ok, this.now(), total);
    if (ejection) this.reportEjection(worker, ejection);
  }

  /** What the router knows of a worker, for `GET /v1/workers`. */
  describe(w: WorkerEntry, now: number): Partial<WorkerView> {
    const state = this.services.get(w.service);
    const until = state?.outlier.ejectedUntil(w.id, now);
    const ewma = this.latency.get(w.id);
    const limit = this.limitOf(w);
    return {
      strategy: this.strategyOf(w.service),
      ...(ewma === undefined ? {} : { ewmaMs: round3(ewma.value(now)) }),
      ...(limit > 0 ? { maxConcurrency: limit } : {}),
      ejected: until !== undefined,
      ...(until === undefined ? {} : { ejectedUntil: new Date(until).toISOString() }),
      ejections: state?.outlier.ejections(w.id) ?? 0,
      slowStartFactor: round3(state?.slowStart.factor(this.rampFrom(w), now) ?? 1),
    };
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
    if (this.opts.shedding?.()) {
      this.opts.onRejected?.(req.service, 'lag');
      return fail(new SynodError('OVERLOADED', 'the gateway is overloaded (event loop lagging): retry later', { details: { reason: 'event-loop-lag' } }), undefined, 0);
    }
    const state = this.state(req.service);
    const started = this.now();
    const deadline = started + req.timeoutMs;
    state.budget.deposit(started);
    const tried = new Set<string>();
    let last: string | undefined;
    let lastError: SynodError | undefined;
    let attempts = 0;
    let wokenUp = false;
    for (;;) {
      const now = this.now();
      if (deadline - now <= 0) return fail(lastError ?? new SynodError('TIMEOUT', `no reply within ${req.timeoutMs} ms`), last, attempts);
      const all = registry.workersOf(req.service).filter((w) => w.endpoints.has(req.endpoint));
      const healthy = state.outlier.eligible(all, now, (id) => this.reportReturn(id)).filter((w) => !tried.has(w.id));
      if (healthy.length === 0) {
        if (lastError) return fail(lastError, last, attempts);
        const error = new SynodError('NO_WORKERS', `service "${req.service}" has no live worker for "${req.endpoint}"`, {
          details: { service: req.service, tried: [...tried] },
        });
        return fail(error, last, attempts);
      }
      const open = healthy.filter((w) => this.limiter.hasCapacity(w.id, this.limitOf(w)));
      if (open.length === 0) {
        if (this.pendingCount >= this.opts.maxPending) {
          this.opts.onRejected?.(req.service, 'queue-full');
          return fail(overloaded(`service "${req.service}" has no free worker and ${this.pendingCount} requests wait already`, 'queue-full'), last, attempts);
        }
        if (!(await this.waitForSlot(state, deadline, wokenUp))) {
          this.opts.onRejected?.(req.service, 'no-capacity');
          return fail(lastError ?? overloaded(`service "${req.service}" had no free worker within the deadline`, 'no-capacity'), last, attempts);
        }
        wokenUp = true;
        continue;
      }
      wokenUp = false;
      const worker = state.slowStart.pick(state.strategy, open, { now, ...(req.key === undefined ? {} : { key: req.key }) }, (w) => this.rampFrom(w));
      if (!worker) return fail(lastError ?? new SynodError('NO_WORKERS', `service "${req.service}" has no eligible worker`), last, attempts);
      tried.add(worker.id);
      last = worker.id;
      attempts++;
      const remaining = deadline - now;
      // Only an attempt that may be retried after a timeout is cut short; any other gets the whole deadline.
      const cut = this.opts.retry.attemptTimeoutMs > 0 && this.isIdempotent(worker, req);
      const attemptTimeout = cut ? Math.min(remaining, this.opts.retry.attemptTimeoutMs) : remaining;
      this.limiter.tryAcquire(worker.id, this.limitOf(worker));
      worker.inFlight++;
      if (worker.inFlight > (this.peakInFlight.get(worker.id) ?? 0)) this.peakInFlight.set(worker.id, worker.inFlight);
      try {
        const result = await busRequest(
          this.opts.nc,
          subjects.workerEndpoint(this.opts.namespace, req.service, worker.id, req.endpoint),
          req.body,
          { timeoutMs: attemptTimeout, requestId: req.requestId, ...(this.opts.requester ? { via: this.opts.requester } : {}) },
        );
        worker.served++;
        this.learn(state, worker, true, true, now);
        this.opts.onAttempt?.(worker, 'ok', undefined);
        return { ok: true, result, worker: worker.id, attempts };
      } catch (err) {
        const e = err instanceof SynodError ? err : new SynodError('INTERNAL', String(err), { cause: err });
        worker.errors++;
        this.opts.onAttempt?.(worker, 'error', e.code);
        if (e.code === 'NO_RESPONDERS') {
          // Nobody got it: not a retry, and the worker is gone.
          attempts--;
          this.opts.log.warn({ worker: worker.id, service: req.service }, 'worker has no responders: dropped from the registry');
          const change = registry.remove(worker.id, 'no-responders');
          if (change) this.onRegistryChange(change);
          continue;
        }
        // The worker gave up at the attempt's own deadline (shorter than the request's): a timeout too.
        const attemptCut = e.code === 'DEADLINE_EXCEEDED' && attemptTimeout < remaining;
        const code: ErrorCode = attemptCut ? 'TIMEOUT' : e.code;
        const fault = WORKER_FAULTS.has(code) && !(code === 'TIMEOUT' && req.clientDeadline === true);
        this.learn(state, worker, !fault, !(fault || code === 'OVERLOADED'), now);
        lastError = e;
        if (!this.retryable(code, worker, req) || attempts >= this.opts.retry.maxAttempts || this.now() >= deadline) return fail(e, worker.id, attempts);
        if (!state.budget.tryWithdraw(this.now())) {
          this.opts.onRejected?.(req.service, 'budget');
          return fail(e, worker.id, attempts);
        }
        this.opts.onRetry?.(req.service, code);
      } finally {
        worker.inFlight--;
        this.limiter.release(worker.id);
        state.waiters.shift()?.wake();
      }
    }
  }

  private retryable(code: ErrorCode, worker: WorkerEntry, req: RouteRequest): boolean {
    if (code === 'OVERLOADED' || code === 'SHUTTING_DOWN') return true;
    if (code === 'TIMEOUT') return this.isIdempotent(worker, req);
    return false;
  }

  private isIdempotent(worker: WorkerEntry, req: RouteRequest): boolean {
    return worker.idempotent.has(req.endpoint) || isListedIdempotent(this.opts.retry.idempotent, req.service, req.endpoint);
  }

  /** Feeds one attempt's outcome to the outlier detector and the latency estimates. */
  private learn(state: ServiceState, worker: WorkerEntry, healthy: boolean, fast: boolean, startedAt: number): void {
    const now = this.now();
    const latencyMs = Math.max(0, now - startedAt);
    state.strategy.observe?.(worker.id, { now, latencyMs, ok: fast });
    let ewma = this.latency.get(worker.id);
    if (!ewma) this.latency.set(worker.id, (ewma = new PeakEwma(this.opts.ewma)));
    ewma.observe(latencyMs, fast, now);
    const total = this.opts.registry.workersOf(worker.service).length;
    const ejection = state.outlier.record(worker.id, healthy, now, total);
    if (ejection) this.reportEjection(worker, ejection);
  }

  private reportEjection(worker: WorkerEntry, ejection: Ejection): void {
    this.opts.log.warn(
      { worker: worker.id, service: worker.service, reason: ejection.reason, ejectedForMs: ejection.until - this.now(), ejections: ejection.count },
      'worker ejected',
    );
    this.opts.onEjection?.(worker, ejection);
  }

  private reportReturn(id: string): void {
    const w = this.opts.registry.get(id);
    this.opts.log.info({ worker: id, service: w?.service }, 'worker returned from ejection');
  }

  private limitOf(w: WorkerEntry): number {
    return w.maxConcurrency ?? this.opts.defaultMaxConcurrency;
  }

  /** Slow start ramps a worker that joined after the gateway's initial discovery, beside others. */
  private rampFrom(w: WorkerEntry): number | undefined {
    if (w.joinedAt - this.startedAt < DISCOVERY_GRACE_MS) return undefined;
    return w.joinedAt;
  }

  private waitForSlot(state: ServiceState, deadline: number, front: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      this.pendingCount++;
      this.pendingPeakCount = Math.max(this.pendingPeakCount, this.pendingCount);
      let done = false;
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pendingCount--;
        const i = state.waiters.indexOf(waiter);
        if (i >= 0) state.waiters.splice(i, 1);
        resolve(ok);
      };
      const waiter: Waiter = { wake: () => finish(true) };
      const timer = setTimeout(() => finish(false), Math.max(0, deadline - this.now()));
      if (front) state.waiters.unshift(waiter);
      else state.waiters.push(waiter);
    });
  }

  private state(service: string): ServiceState {
    let s = this.services.get(service);
    if (!s) {
      s = {
        strategy: this.newStrategy(service),
        outlier: new OutlierDetector(this.opts.outlier),
        budget: new RetryBudget(this.opts.retry.budget),
        slowStart: new SlowStart(this.opts.slowStart, this.opts.random),
        waiters: [],
      };
      this.services.set(service, s);
    }
    return s;
  }

  private newStrategy(service: string): Strategy {
    return createStrategy(this.strategyOf(service), { random: this.opts.random, ewma: this.opts.ewma });
  }
}

function overloaded(message: string, reason: string): SynodError {
  return new SynodError('OVERLOADED', message, { details: { reason } });
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
