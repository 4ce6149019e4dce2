import {
  ConcurrencyLimiter,
  DEFAULT_LATENCY_WINDOW,
  LatencyWindow,
  OutlierDetector,
  PeakEwma,
  RetryBudget,
  SlowStart,
  createStrategy,
  type Ejection,
  type LatencyWindowOptions,
  type OutlierOptions,
  type PeakEwmaOptions,
  type RandomSource,
  type RetryBudgetOptions,
  type SlowStartOptions,
  type Strategy,
  type StrategyName,
} from '@synod/balancing';
import { SynodError, toSynodError, type ErrorCode, type WorkerView } from '@synod/protocol';
import type { Logger } from '@synod/service-kit';
import { RoutingMetrics, type RejectReason, type RoutingMetricsOptions } from './metrics.js';
import type { RegistryChange, WorkerEntry, WorkerRegistry } from './registry.js';
import type { RouteTransport } from './transport.js';

export interface RouteRequest {
  service: string;
  endpoint: string;
  /** The request body, passed to the worker as it is (the worker validates it). */
  body: Uint8Array;
  requestId: string;
  timeoutMs: number;
  /** The routing key for consistent hashing (header or body field), when the request has one. */
  key?: string;
  /** True when the client asked for a shorter deadline than the gateway's: its timeouts are not the worker's fault. */
  clientDeadline?: boolean;
}

export type RouteResult =
  /** `json` is the JSON text of the worker's result. */
  | { ok: true; json: Uint8Array; worker: string; attempts: number }
  /** `worker` is the last worker tried, when one was. */
  | { ok: false; error: SynodError; worker: string | undefined; attempts: number };

export interface RetryOptions {
  budget: RetryBudgetOptions;
  /** Most attempts per request, the first included (attempts that reached no worker are free). */
  maxAttempts: number;
  /** Longest one attempt at an idempotent endpoint may take, in ms; 0: the whole remaining deadline. */
  attemptTimeoutMs: number;
  /** `service/endpoint` (or `service/*`) treated as idempotent besides what workers declare. */
  idempotent: ReadonlySet<string>;
}

export interface HedgeOptions {
  /** Sends a second try of an idempotent request once the first has waited past the worker's latency quantile. */
  enabled: boolean;
  /** The quantile of the worker's recent latency after which the hedge goes (0.99). */
  quantile: number;
  /** The window of recent latencies the quantile is taken over. */
  window: LatencyWindowOptions;
}

export const DEFAULT_HEDGE: HedgeOptions = { enabled: false, quantile: 0.99, window: DEFAULT_LATENCY_WINDOW };

export interface RouterOptions {
  transport: RouteTransport;
  registry: WorkerRegistry;
  /** The default strategy, and the per-service strategies configured at start. */
  strategy: StrategyName;
  overrides?: ReadonlyMap<string, StrategyName>;
  random: RandomSource;
  log: Logger;
  now?: () => number;
  ewma: PeakEwmaOptions;
  slowStart: SlowStartOptions;
  outlier: OutlierOptions;
  retry: RetryOptions;
  hedge?: HedgeOptions;
  /** Requests per worker at once when the worker states no limit; 0: unlimited. */
  defaultMaxConcurrency: number;
  /** Requests that may wait for a free worker at once (all services); beyond, 503 at once. */
  maxPending: number;
  /** True while the process sheds load (its event loop lags). */
  shedding?: () => boolean;
  /** Where the router's metrics go; none without it. */
  metrics?: RoutingMetricsOptions;
}

/** A worker joining this long after the router started is new (earlier: the process discovering it). */
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
  /** Latencies of the service's answered attempts, for the p50 and p99 its stats show. */
  answered: LatencyWindow;
}

/** The window of a service's answer latencies (stats only: a quantile from the first sample). */
const SERVICE_LATENCY_WINDOW: LatencyWindowOptions = { windowMs: DEFAULT_LATENCY_WINDOW.windowMs, minSamples: 1 };

/** One request on its way: what the steps share. */
interface Call {
  readonly req: RouteRequest;
  readonly state: ServiceState;
  readonly deadline: number;
  readonly tried: Set<string>;
  attempts: number;
  last: string | undefined;
  lastError: SynodError | undefined;
  /** The last wait for a slot ended with a wake-up: the next wait goes to the front of the queue. */
  wokenUp: boolean;
}

/** How one attempt ended. */
type Outcome =
  | { ok: true; json: Uint8Array; worker: WorkerEntry }
  /** `code` is the failure as the router judges it (a worker's DEADLINE_EXCEEDED at a cut attempt is a TIMEOUT). */
  | { ok: false; error: SynodError; code: ErrorCode; worker: WorkerEntry };

/** An attempt in flight, as its worker's ejection may end it. */
interface Flight {
  readonly startedAt: number;
  /** Idempotent attempts are given up (and retried elsewhere) when their worker is ejected. */
  readonly idempotent: boolean;
  abandon(): void;
}

type Picked = { worker: WorkerEntry; result?: undefined } | { worker?: undefined; result: RouteResult };

/**
 * Routes each request to one worker of its service, in named steps:
 *
 * - **admit**: the service and endpoint are known, the process is not shedding load;
 * - **pick**: a worker not yet tried, not ejected, with a free concurrency slot, chosen by the
 *   service's strategy (with slow start); when none has a slot the request waits in a bounded
 *   queue until one frees up or its deadline passes;
 * - **attempt**: the request goes to the worker through the transport, with the worker's remaining
 *   deadline; with hedging on, an idempotent request still out after the worker's p99 goes to a
 *   second worker too, and the first success wins;
 * - **learn**: every outcome feeds the strategy, the latency estimates and outlier detection; a
 *   timeout counts as a missed liveness check, and a worker with no responders leaves the registry;
 * - **retry**: NO_RESPONDERS (never delivered) always goes to another worker, outside the budget;
 *   OVERLOADED, SHUTTING_DOWN, and timeouts of idempotent endpoints, within the retry budget, the
 *   attempt cap and the deadline; everything else is answered as it is.
 *
 * Per service: a strategy (the default, a configured one, or one set at runtime), slow start,
 * outlier detection, a retry budget. When a worker is ejected, its idempotent requests in flight
 * are given up at once and retried elsewhere instead of waiting out their deadline.
 */
export class Router {
  private readonly services = new Map<string, ServiceState>();
  /** Strategies set at runtime (over the configured overrides, over the default). */
  private readonly runtimeStrategies = new Map<string, StrategyName>();
  private readonly limiter = new ConcurrencyLimiter();
  private readonly latency = new Map<string, PeakEwma>();
  private readonly recent = new Map<string, LatencyWindow>();
  private readonly peakInFlight = new Map<string, number>();
  /** Attempts in flight per worker (entries leave with their worker). */
  private readonly flights = new Map<WorkerEntry, Set<Flight>>();
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly hedge: HedgeOptions;
  private readonly metrics: RoutingMetrics | undefined;
  private pendingCount = 0;
  private pendingPeakCount = 0;

  constructor(private readonly opts: RouterOptions) {
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.hedge = opts.hedge ?? DEFAULT_HEDGE;
    this.metrics = opts.metrics ? new RoutingMetrics(opts.metrics, opts.registry, this) : undefined;
  }

  /** Requests waiting for a free worker right now, and the most that ever waited at once. */
  get pending(): number {
    return this.pendingCount;
  }

  get pendingPeak(): number {
    return this.pendingPeakCount;
  }

  /** Most requests this router ever had in flight at once on a worker. */
  inFlightPeak(id: string): number {
    return this.peakInFlight.get(id) ?? 0;
  }

  strategyOf(service: string): StrategyName {
    return this.runtimeStrategies.get(service) ?? this.opts.overrides?.get(service) ?? this.opts.strategy;
  }

  /**
   * Sets (or with undefined clears) a service's strategy at runtime; its balancing state starts
   * fresh. Refused (false, nothing kept) for a service with no live worker that the configured
   * overrides do not name: a strategy is kept only for a service that exists.
   */
  setStrategy(service: string, strategy: StrategyName | undefined): boolean {
    if (this.opts.registry.workersOf(service).length === 0 && !this.opts.overrides?.has(service)) return false;
    if (strategy === undefined) this.runtimeStrategies.delete(service);
    else this.runtimeStrategies.set(service, strategy);
    const state = this.services.get(service);
    if (state) state.strategy = this.newStrategy(service);
    return true;
  }

  /** Whether a strategy was set at runtime for the service. */
  hasRuntimeStrategy(service: string): boolean {
    return this.runtimeStrategies.has(service);
  }

  /** The p50 and p99 of the service's answered attempts in the last window, in ms; undefined before any. */
  answeredLatency(service: string, now: number): { p50Ms: number; p99Ms: number } | undefined {
    const window = this.services.get(service)?.answered;
    const p50Ms = window?.quantile(0.5, now);
    const p99Ms = window?.quantile(0.99, now);
    return p50Ms === undefined || p99Ms === undefined ? undefined : { p50Ms: round3(p50Ms), p99Ms: round3(p99Ms) };
  }

  /** Follows registry changes: forgets workers that left, and wakes the service's waiters. */
  onRegistryChange(change: RegistryChange): void {
    const w = change.worker;
    const state = this.services.get(w.service);
    if (change.kind === 'left') {
      state?.strategy.forget?.(w.id);
      state?.outlier.forget(w.id);
      this.latency.delete(w.id);
      this.recent.delete(w.id);
      if (this.flights.get(w)?.size === 0) this.flights.delete(w);
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
    if (ejection) this.ejected(worker, ejection);
  }

  /** Workers of `service` that outlier detection holds out now. */
  ejectedWorkers(service: string): number {
    const state = this.services.get(service);
    if (!state) return 0;
    const now = this.now();
    let n = 0;
    for (const w of this.opts.registry.workersOf(service)) if (state.outlier.ejectedUntil(w.id, now) !== undefined) n++;
    return n;
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
    const admitted = this.admit(req);
    if (!('tried' in admitted)) return admitted;
    const call = admitted;
    for (;;) {
      // pick() only returns a promise when the request has to wait for a slot.
      let picked = this.pick(call);
      if (picked instanceof Promise) picked = await picked;
      if (picked.result) return picked.result;
      const outcome = await this.attempt(call, picked.worker);
      if (outcome.ok) return { ok: true, json: outcome.json, worker: outcome.worker.id, attempts: call.attempts };
      if (!this.retry(call, outcome)) return fail(outcome.error, outcome.worker.id, call.attempts);
    }
  }

  /** Step 1: refuses what cannot be routed at all; otherwise opens the call. */
  private admit(req: RouteRequest): Call | RouteResult {
    const { registry } = this.opts;
    if (!registry.isKnownService(req.service)) {
      return fail(new SynodError('UNKNOWN_SERVICE', `no worker has announced service "${req.service}"`), undefined, 0);
    }
    if (!registry.isKnownEndpoint(req.service, req.endpoint)) {
      return fail(new SynodError('UNKNOWN_ENDPOINT', `service "${req.service}" has no endpoint "${req.endpoint}"`), undefined, 0);
    }
    if (this.opts.shedding?.()) {
      this.metrics?.reject(req.service, 'lag');
      return fail(new SynodError('OVERLOADED', 'the gateway is overloaded (event loop lagging): retry later', { details: { reason: 'event-loop-lag' } }), undefined, 0);
    }
    const state = this.state(req.service);
    const now = this.now();
    state.budget.deposit(now);
    return { req, state, deadline: now + req.timeoutMs, tried: new Set(), attempts: 0, last: undefined, lastError: undefined, wokenUp: false };
  }

  /** Step 2: a worker for the next attempt, waiting for a free slot when every candidate is full. */
  private pick(call: Call): Picked | Promise<Picked> {
    const { req } = call;
    const now = this.now();
    if (call.deadline - now <= 0) return { result: fail(call.lastError ?? new SynodError('TIMEOUT', `no reply within ${req.timeoutMs} ms`), call.last, call.attempts) };
    const candidates = this.candidates(call, now);
    if (candidates.length > 0) {
      const open = this.withCapacity(candidates);
      if (open.length > 0) return this.take(call, open, now);
    }
    return this.pickWaiting(call);
  }

  /** Step 2 when no candidate has a free slot (or none is left): the queue, or the reason there is no worker. */
  private async pickWaiting(call: Call): Promise<Picked> {
    const { req, state } = call;
    for (;;) {
      const now = this.now();
      if (call.deadline - now <= 0) return { result: fail(call.lastError ?? new SynodError('TIMEOUT', `no reply within ${req.timeoutMs} ms`), call.last, call.attempts) };
      const candidates = this.candidates(call, now);
      if (candidates.length === 0) {
        const error =
          call.lastError ??
          new SynodError('NO_WORKERS', `service "${req.service}" has no live worker for "${req.endpoint}"`, { details: { service: req.service, tried: [...call.tried] } });
        return { result: fail(error, call.last, call.attempts) };
      }
      const open = this.withCapacity(candidates);
      if (open.length === 0) {
        if (this.pendingCount >= this.opts.maxPending) {
          this.reject(req.service, 'queue-full');
          return { result: fail(overloaded(`service "${req.service}" has no free worker and ${this.pendingCount} requests wait already`, 'queue-full'), call.last, call.attempts) };
        }
        if (!(await this.waitForSlot(state, call.deadline, call.wokenUp))) {
          this.reject(req.service, 'no-capacity');
          return { result: fail(call.lastError ?? overloaded(`service "${req.service}" had no free worker within the deadline`, 'no-capacity'), call.last, call.attempts) };
        }
        call.wokenUp = true;
        continue;
      }
      return this.take(call, open, now);
    }
  }

  /** Chooses among workers with a free slot and takes the slot, in the same turn as the capacity check. */
  private take(call: Call, open: readonly WorkerEntry[], now: number): Picked {
    call.wokenUp = false;
    const worker = this.choose(call, open, now);
    if (!worker) return { result: fail(call.lastError ?? new SynodError('NO_WORKERS', `service "${call.req.service}" has no eligible worker`), call.last, call.attempts) };
    this.limiter.tryAcquire(worker.id, this.limitOf(worker));
    return { worker };
  }

  /**
   * Step 3: one attempt at `worker`; with hedging on, a second attempt at another worker once the
   * first has waited past the worker's latency quantile, the first success winning.
   */
  private attempt(call: Call, worker: WorkerEntry): Promise<Outcome> {
    const first = this.send(call, worker);
    const delayMs = this.hedgeDelay(call, worker);
    return delayMs === undefined ? first : this.hedged(call, first, delayMs);
  }

  /** The hedge of an attempt still out after `delayMs`: a second worker, and the first success. */
  private async hedged(call: Call, first: Promise<Outcome>, delayMs: number): Promise<Outcome> {
    const early = await within(first, delayMs);
    if (early) return early;
    const now = this.now();
    const open = this.withCapacity(this.candidates(call, now));
    const second = open.length === 0 ? undefined : this.choose(call, open, now);
    if (!second || call.attempts >= this.opts.retry.maxAttempts || !call.state.budget.tryWithdraw(now)) return first;
    this.limiter.tryAcquire(second.id, this.limitOf(second));
    this.metrics?.hedge(call.req.service);
    return firstSuccess(first, this.send(call, second));
  }

  /**
   * Sends one attempt (its concurrency slot already taken) and settles it: answered, failed, or
   * given up because its worker was ejected; the slot is given back when it settles.
   */
  private send(call: Call, worker: WorkerEntry): Promise<Outcome> {
    const { req } = call;
    call.tried.add(worker.id);
    call.last = worker.id;
    call.attempts++;
    const startedAt = this.now();
    const remaining = call.deadline - startedAt;
    const idempotent = this.isIdempotent(worker, req);
    // Only an attempt that may be retried after a timeout is cut short; any other gets the whole deadline.
    const cut = this.opts.retry.attemptTimeoutMs > 0 && idempotent;
    const timeoutMs = cut ? Math.min(remaining, this.opts.retry.attemptTimeoutMs) : remaining;
    worker.inFlight++;
    if (worker.inFlight > (this.peakInFlight.get(worker.id) ?? 0)) this.peakInFlight.set(worker.id, worker.inFlight);
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        this.land(worker, flight);
        worker.inFlight--;
        this.limiter.release(worker.id);
        call.state.waiters.shift()?.wake();
        resolve(outcome);
      };
      const flight: Flight = {
        startedAt,
        idempotent,
        abandon: () => {
          if (settled) return;
          worker.errors++;
          const error = new SynodError('TIMEOUT', `worker "${worker.id}" was ejected while the request was in flight`);
          this.metrics?.attempt(worker, 'error', 'TIMEOUT');
          settle({ ok: false, error, code: 'TIMEOUT', worker });
        },
      };
      this.fly(worker, flight);
      this.opts.transport.send(worker, { endpoint: req.endpoint, body: req.body, requestId: req.requestId, timeoutMs }).then(
        (json) => {
          if (settled) return;
          worker.served++;
          this.metrics?.attempt(worker, 'ok', undefined);
          const outcome: Outcome = { ok: true, json, worker };
          // Settled first: an ejection that learning causes must not find this attempt still in flight.
          settle(outcome);
          this.learn(call, outcome, startedAt);
        },
        (err: unknown) => {
          if (settled) return;
          const error = toSynodError(err);
          worker.errors++;
          this.metrics?.attempt(worker, 'error', error.code);
          // The worker gave up at the attempt's own deadline (shorter than the request's): a timeout too.
          const code: ErrorCode = error.code === 'DEADLINE_EXCEEDED' && timeoutMs < remaining ? 'TIMEOUT' : error.code;
          const outcome: Outcome = { ok: false, error, code, worker };
          settle(outcome);
          this.learn(call, outcome, startedAt);
        },
      );
    });
  }

  /** Step 4: feeds one attempt's outcome to the strategy, the latency estimates and outlier detection. */
  private learn(call: Call, outcome: Outcome, startedAt: number): void {
    const { state, req } = call;
    const { worker } = outcome;
    if (!outcome.ok && outcome.code === 'NO_RESPONDERS') {
      // Nobody got it: the worker is gone.
      this.opts.log.warn({ worker: worker.id, service: worker.service }, 'worker has no responders: dropped from the registry');
      const change = this.opts.registry.remove(worker.id, 'no-responders');
      if (change) this.onRegistryChange(change);
      return;
    }
    const now = this.now();
    const latencyMs = Math.max(0, now - startedAt);
    const code = outcome.ok ? undefined : outcome.code;
    const timedOut = code === 'TIMEOUT' && req.clientDeadline !== true;
    const fault = code !== undefined && WORKER_FAULTS.has(code) && (code !== 'TIMEOUT' || timedOut);
    const fast = !(fault || code === 'OVERLOADED');
    state.strategy.observe?.(worker.id, { now, latencyMs, ok: fast });
    let ewma = this.latency.get(worker.id);
    if (!ewma) this.latency.set(worker.id, (ewma = new PeakEwma(this.opts.ewma)));
    ewma.observe(latencyMs, fast, now);
    if (outcome.ok) state.answered.record(latencyMs, now);
    if (this.hedge.enabled && outcome.ok) {
      let window = this.recent.get(worker.id);
      if (!window) this.recent.set(worker.id, (window = new LatencyWindow(this.hedge.window)));
      window.record(latencyMs, now);
    }
    const total = this.opts.registry.workersOf(worker.service).length;
    const ejection = state.outlier.record(worker.id, !fault, now, total);
    if (ejection) this.ejected(worker, ejection);
    // A request that timed out on the worker is a liveness check it missed, like an unanswered ping.
    if (timedOut) this.recordPing(worker, false);
  }

  /** Step 5: whether the failure goes to another worker. */
  private retry(call: Call, failure: Extract<Outcome, { ok: false }>): boolean {
    const { req, state } = call;
    if (failure.code === 'NO_RESPONDERS') {
      // Never delivered: not a retry, and free.
      call.attempts--;
      return true;
    }
    call.lastError = failure.error;
    const now = this.now();
    if (!this.retryable(failure.code, failure.worker, req) || call.attempts >= this.opts.retry.maxAttempts || now >= call.deadline) return false;
    if (!state.budget.tryWithdraw(now)) {
      this.reject(req.service, 'budget');
      return false;
    }
    this.metrics?.retry(req.service, failure.code);
    return true;
  }

  /** Workers of the call's service serving its endpoint, not ejected and not tried yet. */
  private candidates(call: Call, now: number): readonly WorkerEntry[] {
    const { req, state } = call;
    const serving = this.opts.registry.workersServing(req.service, req.endpoint);
    const eligible = state.outlier.eligible(serving, now, (id) => this.returned(id));
    return call.tried.size === 0 ? eligible : eligible.filter((w) => !call.tried.has(w.id));
  }

  private withCapacity(workers: readonly WorkerEntry[]): readonly WorkerEntry[] {
    let full = 0;
    for (const w of workers) if (!this.limiter.hasCapacity(w.id, this.limitOf(w))) full++;
    return full === 0 ? workers : workers.filter((w) => this.limiter.hasCapacity(w.id, this.limitOf(w)));
  }

  private choose(call: Call, open: readonly WorkerEntry[], now: number): WorkerEntry | undefined {
    const key = call.req.key;
    return call.state.slowStart.pick(call.state.strategy, open, key === undefined ? { now } : { now, key }, (w) => this.rampFrom(w));
  }

  /** When a hedge goes, in ms after the first attempt: the worker's recent latency quantile; undefined for no hedge. */
  private hedgeDelay(call: Call, worker: WorkerEntry): number | undefined {
    if (!this.hedge.enabled || !this.isIdempotent(worker, call.req)) return undefined;
    const now = this.now();
    const q = this.recent.get(worker.id)?.quantile(this.hedge.quantile, now);
    if (q === undefined) return undefined;
    const delayMs = Math.max(1, Math.ceil(q));
    return delayMs < call.deadline - now ? delayMs : undefined;
  }

  private fly(worker: WorkerEntry, flight: Flight): void {
    let set = this.flights.get(worker);
    if (!set) this.flights.set(worker, (set = new Set()));
    if (set.size === 0) worker.inFlightSince = flight.startedAt;
    set.add(flight);
  }

  private land(worker: WorkerEntry, flight: Flight): void {
    const set = this.flights.get(worker);
    if (!set?.delete(flight)) return;
    // A worker that left keeps its set only while attempts to it are still out.
    if (set.size === 0 && this.opts.registry.get(worker.id) !== worker) this.flights.delete(worker);
    // Flights are kept in the order they started: the oldest left is the first.
    if (flight.startedAt <= (worker.inFlightSince ?? -Infinity)) worker.inFlightSince = set.size === 0 ? undefined : set.values().next().value!.startedAt;
  }

  private retryable(code: ErrorCode, worker: WorkerEntry, req: RouteRequest): boolean {
    if (code === 'OVERLOADED' || code === 'SHUTTING_DOWN') return true;
    if (code === 'TIMEOUT') return this.isIdempotent(worker, req);
    return false;
  }

  private isIdempotent(worker: WorkerEntry, req: RouteRequest): boolean {
    const listed = this.opts.retry.idempotent;
    return worker.idempotent.has(req.endpoint) || (listed.size > 0 && isListedIdempotent(listed, req.service, req.endpoint));
  }

  /** An ejection: logged, counted, and the worker's idempotent requests in flight are given up (retried elsewhere). */
  private ejected(worker: WorkerEntry, ejection: Ejection): void {
    this.opts.log.warn(
      { worker: worker.id, service: worker.service, reason: ejection.reason, ejectedForMs: ejection.until - this.now(), ejections: ejection.count },
      'worker ejected',
    );
    this.metrics?.ejection(worker, ejection.reason);
    const flights = this.flights.get(worker);
    if (flights) for (const f of [...flights]) if (f.idempotent) f.abandon();
  }

  private returned(id: string): void {
    const w = this.opts.registry.get(id);
    this.opts.log.info({ worker: id, service: w?.service }, 'worker returned from ejection');
  }

  private reject(service: string, reason: RejectReason): void {
    this.metrics?.reject(service, reason);
  }

  private limitOf(w: WorkerEntry): number {
    return w.maxConcurrency ?? this.opts.defaultMaxConcurrency;
  }

  /** Slow start ramps a worker that joined after the router's initial discovery, beside others. */
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
        answered: new LatencyWindow(SERVICE_LATENCY_WINDOW),
      };
      this.services.set(service, s);
    }
    return s;
  }

  private newStrategy(service: string): Strategy {
    return createStrategy(this.strategyOf(service), { random: this.opts.random, ewma: this.opts.ewma });
  }
}

/** Whether `service/endpoint` is in an `IDEMPOTENT_ENDPOINTS` list (`svc/echo`, `svc/*`). */
export function isListedIdempotent(list: ReadonlySet<string>, service: string, endpoint: string): boolean {
  return list.has(`${service}/${endpoint}`) || list.has(`${service}/*`);
}

function fail(error: SynodError, worker: string | undefined, attempts: number): RouteResult {
  return { ok: false, error, worker, attempts };
}

function overloaded(message: string, reason: string): SynodError {
  return new SynodError('OVERLOADED', message, { details: { reason } });
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The outcome if it comes within `ms`, else undefined (the attempt goes on). */
function within(outcome: Promise<Outcome>, ms: number): Promise<Outcome | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void outcome.then((o) => {
      clearTimeout(timer);
      resolve(o);
    });
  });
}

/** The first success of two attempts, or the failure of whichever failed last. */
function firstSuccess(a: Promise<Outcome>, b: Promise<Outcome>): Promise<Outcome> {
  return new Promise((resolve) => {
    let failed = 0;
    const settle = (o: Outcome): void => {
      if (o.ok || ++failed === 2) resolve(o);
    };
    void a.then(settle);
    void b.then(settle);
  });
}
