import { STRATEGY_NAMES } from '@synod/balancing';
import { DEFAULT_MAX_REQUEST_BYTES } from '@synod/protocol';
import { BusRequester, Counter, Gauge, Histogram, LabelBound, UNKNOWN_LABEL_VALUE, env, httpServerInfo, runService } from '@synod/service-kit';
import { z } from 'zod';
import { adminRoutes } from './admin-api.js';
import { ApiKeysFile, CorsOrigins } from './edge.js';
import { HealthChecker } from './health-checker.js';
import { buildApi } from './http-api.js';
import { LagMonitor } from './lag-monitor.js';
import { WorkerRegistry } from './registry.js';
import { RegistryListener } from './registry-listener.js';
import { Router } from './router.js';
import { BodyFieldPath, IdempotentEndpoints, StrategyOverrides } from './settings.js';

const PERCENT = 'expected a number from 0 to 100';

await runService({
  service: 'balancer-gateway',
  env: {
    /** The API port (separate from HTTP_PORT, which serves health and metrics). */
    PORT: env.port(8080),
    HOST: env.string({ default: '0.0.0.0', expected: 'expected a host or address to listen on' }),
    /** The default strategy of every service. */
    LB_STRATEGY: env.oneOf(STRATEGY_NAMES, 'weighted'),
    /** Per-service strategies: `svc=p2c-ewma,other=least-outstanding`. */
    LB_STRATEGY_OVERRIDES: env.of(StrategyOverrides),
    /** Header holding the consistent-hash key. */
    LB_HASH_HEADER: env.string({ default: 'x-synod-key', pattern: /^[A-Za-z0-9-]{1,64}$/, expected: 'expected an HTTP header name' }),
    /** A JSON body field (dotted path) holding the key when the header is absent. */
    LB_HASH_BODY_FIELD: env.of(BodyFieldPath),
    /** Peak-EWMA decay time constant, and the latency a failure counts as (p2c-ewma). */
    LB_EWMA_DECAY_MS: env.int({ min: 1, max: 600_000, default: 10_000 }),
    LB_FAILURE_PENALTY_MS: env.int({ min: 0, max: 600_000, default: 500 }),
    /** Slow start: a new worker's share ramps up over this window (0: off). */
    SLOW_START_MS: env.int({ min: 0, max: 3_600_000, default: 0 }),
    SLOW_START_MIN_PERCENT: env.int({ min: 1, max: 100, default: 10 }),
    SLOW_START_AGGRESSION: env.of(z.coerce.number({ error: 'expected a number from 0.1 to 10' }).min(0.1).max(10).default(1)),
    /** Outlier detection (0 turns a check off). */
    OUTLIER_CONSECUTIVE_FAILURES: env.int({ min: 0, max: 10_000, default: 5 }),
    OUTLIER_SUCCESS_RATE_PERCENT: env.int({ min: 0, max: 100, default: 0 }),
    OUTLIER_SUCCESS_RATE_MIN_REQUESTS: env.int({ min: 1, max: 1_000_000, default: 20 }),
    OUTLIER_WINDOW_MS: env.int({ min: 100, max: 3_600_000, default: 10_000 }),
    OUTLIER_BASE_EJECTION_MS: env.int({ min: 10, max: 3_600_000, default: 5_000 }),
    OUTLIER_MAX_EJECTION_MS: env.int({ min: 10, max: 3_600_000, default: 60_000 }),
    OUTLIER_MAX_EJECTION_PERCENT: env.of(z.coerce.number({ error: PERCENT }).min(0, PERCENT).max(100, PERCENT).default(50)),
    /** Active checks: ping every worker this often (0: off), a miss after the timeout, eject after this many misses in a row. */
    HEALTH_CHECK_INTERVAL_MS: env.int({ min: 0, max: 600_000, default: 5_000 }),
    HEALTH_CHECK_TIMEOUT_MS: env.int({ min: 1, max: 600_000, default: 2_000 }),
    HEALTH_CHECK_FAILURES: env.int({ min: 0, max: 1000, default: 3 }),
    /** Retries: budget as a share of requests plus a floor per second, attempts per request, attempt timeout (0: whole deadline). */
    RETRY_BUDGET_PERCENT: env.int({ min: 0, max: 100, default: 20 }),
    RETRY_MIN_PER_SECOND: env.int({ min: 0, max: 100_000, default: 10 }),
    RETRY_MAX_ATTEMPTS: env.int({ min: 1, max: 10, default: 3 }),
    RETRY_ATTEMPT_TIMEOUT_MS: env.int({ min: 0, max: 600_000, default: 0 }),
    /** Endpoints retried after a timeout besides those workers declare idempotent: `svc/echo,other/*`. */
    IDEMPOTENT_ENDPOINTS: env.of(IdempotentEndpoints),
    /** Requests per worker at once when the worker states no maxConcurrency (0: unlimited). */
    WORKER_MAX_CONCURRENCY: env.int({ min: 0, max: 100_000, default: 0 }),
    /** Requests that may wait for a free worker, all services together; beyond, 503 at once. */
    MAX_PENDING: env.int({ min: 0, max: 1_000_000, default: 1000 }),
    /** Shed load (503 at once) while the event loop lags more than this (ms; 0: off), measured per window. */
    EVENT_LOOP_LAG_MS: env.int({ min: 0, max: 600_000, default: 1000 }),
    EVENT_LOOP_WINDOW_MS: env.int({ min: 50, max: 60_000, default: 500 }),
    /** The admin routes (on the ops port, HTTP_PORT) need `authorization: Bearer <ADMIN_TOKEN>`; unset: they answer 403. */
    ADMIN_TOKEN: env.string({ pattern: /^[\x21-\x7e]{16,256}$/, expected: 'expected 16-256 printable characters' }),
    /** Requests per second per client (its API key, else its address) on the public port; unset: no limit. */
    RATE_LIMIT_PER_SECOND: env.optionalInt({ min: 1, max: 10_000_000 }),
    /** JSON file of API keys (by SHA-256) required on the /v1/ routes; unset: no keys. */
    API_KEYS_FILE: env.of(ApiKeysFile),
    /** Origins allowed to call the API from a browser (CORS); unset: none. */
    CORS_ORIGINS: env.of(CorsOrigins),
    /** One info line per request with request id, status and duration. */
    ACCESS_LOG: env.bool(true),
    /** Distinct values each bounded metric label keeps (service, endpoint, worker); beyond, `_unknown`. */
    METRICS_MAX_LABEL_VALUES: env.int({ min: 1, max: 1_000_000, default: 1000 }),
    /** A worker unheard of for longer than this leaves the registry. */
    WORKER_EXPIRY_MS: env.int({ min: 100, max: 600_000, default: 3000 }),
    /** How often expired workers are swept out. */
    REGISTRY_SWEEP_MS: env.int({ min: 10, max: 60_000, default: 500 }),
    REQUEST_TIMEOUT_MS: env.int({ min: 1, max: 600_000, default: 10_000 }),
    MAX_BODY_BYTES: env.int({ min: 64, max: 900 * 1024, default: DEFAULT_MAX_REQUEST_BYTES }),
  },
  async start({ config, instanceId, log, bus, metrics }) {
    const registry = new WorkerRegistry(config.WORKER_EXPIRY_MS);
    // Label values that come from requests or announcements are bounded: a client naming random
    // services adds no series, and a metric keeps at most METRICS_MAX_LABEL_VALUES values per label.
    const bound = new LabelBound(metrics, config.METRICS_MAX_LABEL_VALUES);
    const serviceLabel = (metric: string, service: string): string =>
      registry.isKnownService(service) ? bound.value(metric, 'service', service) : UNKNOWN_LABEL_VALUE;
    const endpointLabel = (metric: string, service: string, endpoint: string): string =>
      registry.isKnownEndpoint(service, endpoint) ? bound.value(metric, 'endpoint', endpoint) : UNKNOWN_LABEL_VALUE;
    const workerLabel = (metric: string, id: string): string => bound.value(metric, 'worker', id);
    const requests = new Counter({
      name: 'synod_gateway_requests_total',
      help: 'HTTP requests routed, by service, endpoint and status',
      labelNames: ['service', 'endpoint', 'status'],
      registers: [metrics],
    });
    const duration = new Histogram({
      name: 'synod_gateway_request_duration_seconds',
      help: 'Time from receiving an HTTP request to answering it',
      labelNames: ['service', 'endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [metrics],
    });
    const attempts = new Counter({
      name: 'synod_gateway_worker_attempts_total',
      help: 'Requests sent to workers, by worker and outcome',
      labelNames: ['service', 'worker', 'outcome', 'code'],
      registers: [metrics],
    });
    const invalid = new Counter({
      name: 'synod_gateway_registry_invalid_total',
      help: 'Registry messages ignored because they were malformed',
      registers: [metrics],
    });
    const ejections = new Counter({
      name: 'synod_gateway_ejections_total',
      help: 'Workers ejected by outlier detection, by reason',
      labelNames: ['service', 'worker', 'reason'],
      registers: [metrics],
    });
    const retries = new Counter({
      name: 'synod_gateway_retries_total',
      help: 'Requests retried on another worker, by the failure retried',
      labelNames: ['service', 'code'],
      registers: [metrics],
    });
    const rejected = new Counter({
      name: 'synod_gateway_rejected_total',
      help: 'Requests refused or not retried: no capacity, full queue, event-loop lag, retry budget spent',
      labelNames: ['service', 'reason'],
      registers: [metrics],
    });
    new Gauge({
      name: 'synod_gateway_workers',
      help: 'Live workers in the registry',
      registers: [metrics],
      collect() {
        this.set(registry.size);
      },
    });

    const lag = new LagMonitor(config.EVENT_LOOP_LAG_MS, config.EVENT_LOOP_WINDOW_MS);
    const requester = new BusRequester(bus.nc);
    const router = new Router({
      nc: bus.nc,
      requester,
      registry,
      namespace: config.SYNOD_NAMESPACE,
      strategy: config.LB_STRATEGY,
      overrides: config.LB_STRATEGY_OVERRIDES,
      random: Math.random,
      log,
      ewma: { decayMs: config.LB_EWMA_DECAY_MS, failurePenaltyMs: config.LB_FAILURE_PENALTY_MS },
      slowStart: { windowMs: config.SLOW_START_MS, minPercent: config.SLOW_START_MIN_PERCENT, aggression: config.SLOW_START_AGGRESSION, steps: 10 },
      outlier: {
        consecutiveFailures: config.OUTLIER_CONSECUTIVE_FAILURES,
        consecutivePingFailures: config.HEALTH_CHECK_FAILURES,
        successRatePercent: config.OUTLIER_SUCCESS_RATE_PERCENT,
        successRateMinRequests: config.OUTLIER_SUCCESS_RATE_MIN_REQUESTS,
        successRateWindowMs: config.OUTLIER_WINDOW_MS,
        baseEjectionMs: config.OUTLIER_BASE_EJECTION_MS,
        maxEjectionMs: config.OUTLIER_MAX_EJECTION_MS,
        maxEjectionPercent: config.OUTLIER_MAX_EJECTION_PERCENT,
      },
      retry: {
        budget: { ratio: config.RETRY_BUDGET_PERCENT / 100, minPerSecond: config.RETRY_MIN_PER_SECOND, maxTokens: Math.max(10, config.RETRY_MIN_PER_SECOND * 10) },
        maxAttempts: config.RETRY_MAX_ATTEMPTS,
        attemptTimeoutMs: config.RETRY_ATTEMPT_TIMEOUT_MS,
        idempotent: config.IDEMPOTENT_ENDPOINTS,
      },
      defaultMaxConcurrency: config.WORKER_MAX_CONCURRENCY,
      maxPending: config.MAX_PENDING,
      shedding: () => lag.shedding,
      onAttempt: (w, outcome, code) =>
        attempts.inc({ service: serviceLabel('attempts', w.service), worker: workerLabel('attempts', w.id), outcome, code: code ?? '' }),
      onEjection: (w, e) => ejections.inc({ service: serviceLabel('ejections', w.service), worker: workerLabel('ejections', w.id), reason: e.reason }),
      onRetry: (service, code) => retries.inc({ service: serviceLabel('retries', service), code }),
      onRejected: (service, reason) => rejected.inc({ service: serviceLabel('rejected', service), reason }),
    });
    new Gauge({
      name: 'synod_gateway_pending',
      help: 'Requests waiting for a free worker',
      registers: [metrics],
      collect() {
        this.set(router.pending);
      },
    });
    new Gauge({
      name: 'synod_gateway_pending_peak',
      help: 'Most requests that ever waited for a free worker at once',
      registers: [metrics],
      collect() {
        this.set(router.pendingPeak);
      },
    });
    new Gauge({
      name: 'synod_gateway_worker_in_flight_peak',
      help: 'Most requests this gateway ever had in flight at once on a live worker',
      labelNames: ['service', 'worker'],
      registers: [metrics],
      collect() {
        this.reset();
        for (const service of registry.services()) {
          for (const w of registry.workersOf(service)) {
            this.set({ service: serviceLabel('in_flight_peak', service), worker: workerLabel('in_flight_peak', w.id) }, router.inFlightPeak(w.id));
          }
        }
      },
    });
    new Gauge({
      name: 'synod_gateway_event_loop_lag_seconds',
      help: 'Worst event-loop delay of the last window',
      registers: [metrics],
      collect() {
        this.set(lag.lag / 1000);
      },
    });

    const listener = new RegistryListener({
      nc: bus.nc,
      registry,
      namespace: config.SYNOD_NAMESPACE,
      gatewayId: instanceId,
      sweepIntervalMs: config.REGISTRY_SWEEP_MS,
      log,
      onInvalid: () => invalid.inc(),
      dropLogIntervalMs: config.DROP_LOG_INTERVAL_MS,
      onChange: (change) => router.onRegistryChange(change),
    });
    const health = new HealthChecker({
      nc: bus.nc,
      registry,
      namespace: config.SYNOD_NAMESPACE,
      intervalMs: config.HEALTH_CHECK_INTERVAL_MS,
      timeoutMs: config.HEALTH_CHECK_TIMEOUT_MS,
      log,
      onResult: (w, ok) => {
        if (registry.get(w.id) === w) router.recordPing(w, ok);
      },
    });
    const api = buildApi({
      router,
      registry,
      log,
      maxBodyBytes: config.MAX_BODY_BYTES,
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      hashHeader: config.LB_HASH_HEADER,
      ...(config.LB_HASH_BODY_FIELD === undefined ? {} : { hashBodyField: config.LB_HASH_BODY_FIELD }),
      edge: {
        accessLog: config.ACCESS_LOG,
        ...(config.API_KEYS_FILE === undefined ? {} : { apiKeys: config.API_KEYS_FILE }),
        ...(config.RATE_LIMIT_PER_SECOND === undefined ? {} : { rateLimitPerSecond: config.RATE_LIMIT_PER_SECOND }),
        ...(config.CORS_ORIGINS === undefined ? {} : { corsOrigins: config.CORS_ORIGINS }),
      },
      onResponse: (service, endpoint, status, seconds) => {
        requests.inc({ service: serviceLabel('requests', service), endpoint: endpointLabel('requests', service, endpoint), status });
        duration.observe({ service: serviceLabel('duration', service), endpoint: endpointLabel('duration', service, endpoint) }, seconds);
      },
    });
    await listener.start();
    health.start();
    lag.start();
    await api.listen({ port: config.PORT, host: config.HOST });
    const address = api.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.PORT;
    let serving = true;
    const overrides = Object.fromEntries(config.LB_STRATEGY_OVERRIDES);
    if (config.ADMIN_TOKEN === undefined) log.info('admin routes closed: ADMIN_TOKEN is not set');
    if (config.HTTP_PORT === undefined && config.ADMIN_TOKEN !== undefined) log.warn('ADMIN_TOKEN is set but HTTP_PORT is not: the admin routes live on the ops port, which is off');
    return {
      ready: { port, strategy: config.LB_STRATEGY, overrides, admin: config.ADMIN_TOKEN !== undefined && config.HTTP_PORT !== undefined },
      http: [httpServerInfo('api', port, api)],
      opsRoutes: adminRoutes({ router, registry, log, ...(config.ADMIN_TOKEN === undefined ? {} : { adminToken: config.ADMIN_TOKEN }) }),
      checks: [{ name: 'api', ok: () => serving }],
      async stop() {
        serving = false;
        health.stop();
        lag.stop();
        // fastify's close stops accepting connections and waits for in-flight requests.
        await api.close();
        listener.stop();
        requester.close();
      },
    };
  },
});
