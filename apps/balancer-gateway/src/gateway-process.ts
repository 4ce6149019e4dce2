import { DEFAULT_LATENCY_WINDOW } from '@synod/balancing';
import { HealthChecker, NatsTransport, RegistryListener, Router, WorkerRegistry } from '@synod/routing';
import { BusRequester, LabelBound, coalesceWrites, httpServerInfo, type OpsRoutes, type ServiceContext, type StartedService } from '@synod/service-kit';
import { AdminRelay } from './admin-relay.js';
import { GatewayBusApi } from './bus-api.js';
import type { GatewayConfig } from './config.js';
import { buildApi } from './http-api.js';
import { LagMonitor } from './lag-monitor.js';
import { METRICS_PREFIX } from './metrics.js';
import { opsAdminRoutes } from './plugins/admin.js';

/** Where a gateway process stands among the instance's processes. */
export interface ProcessRole {
  /** This process's number, 1 to GATEWAY_PROCESSES. */
  process: number;
  /** Whether it serves the admin routes itself (a lone process); under a supervisor the supervisor does. */
  serveAdmin: boolean;
}


/**
 * One gateway process: its own NATS connection (writes coalesced per event-loop turn), registry
 * view, router and balancer state, health checks, event-loop lag watch, the public API on PORT,
 * and the bus API (admin changes, stats). Run alone (GATEWAY_PROCESSES=1) it also serves the
 * admin routes on the ops port; under a supervisor it is one of N on the same port.
 */
export async function startGatewayProcess(ctx: ServiceContext<GatewayConfig>, role: ProcessRole): Promise<StartedService> {
  const { config, instanceId, bus, metrics } = ctx;
  const log = role.serveAdmin ? ctx.log : ctx.log.child({ process: role.process });
  coalesceWrites(bus.nc);
  const registry = new WorkerRegistry(config.WORKER_EXPIRY_MS);
  // Label values that come from requests or announcements are bounded: a client naming random
  // services adds no series, and a metric keeps at most METRICS_MAX_LABEL_VALUES values per label.
  const bound = new LabelBound(metrics, config.METRICS_MAX_LABEL_VALUES);
  const lag = new LagMonitor({ thresholdMs: config.EVENT_LOOP_LAG_MS, windowMs: config.EVENT_LOOP_WINDOW_MS, metrics: { registry: metrics, prefix: METRICS_PREFIX } });
  const requester = new BusRequester(bus.nc);
  const transport = new NatsTransport(requester, config.SYNOD_NAMESPACE);
  const router = new Router({
    transport,
    registry,
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
    hedge: { enabled: config.HEDGE_IDEMPOTENT, quantile: 0.99, window: DEFAULT_LATENCY_WINDOW },
    defaultMaxConcurrency: config.WORKER_MAX_CONCURRENCY,
    maxPending: config.MAX_PENDING,
    shedding: () => lag.shedding,
    metrics: { registry: metrics, bound, prefix: METRICS_PREFIX },
  });
  const listener = new RegistryListener({
    nc: bus.nc,
    registry,
    namespace: config.SYNOD_NAMESPACE,
    gatewayId: `${instanceId}/${role.process}`,
    sweepIntervalMs: config.REGISTRY_SWEEP_MS,
    log,
    metrics: { registry: metrics, prefix: METRICS_PREFIX },
    dropLogIntervalMs: config.DROP_LOG_INTERVAL_MS,
    onChange: (change) => router.onRegistryChange(change),
  });
  const health = new HealthChecker({
    transport,
    registry,
    intervalMs: config.HEALTH_CHECK_INTERVAL_MS,
    timeoutMs: config.HEALTH_CHECK_TIMEOUT_MS,
    log,
    onResult: (w, ok) => router.recordPing(w, ok),
  });
  const busApi = new GatewayBusApi({
    nc: bus.nc,
    namespace: config.SYNOD_NAMESPACE,
    gateway: instanceId,
    process: role.process,
    registry,
    router,
    log,
    dropLogIntervalMs: config.DROP_LOG_INTERVAL_MS,
  });
  const api = buildApi({
    log,
    maxBodyBytes: config.MAX_BODY_BYTES,
    proxy: {
      router,
      registry,
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      hashHeader: config.LB_HASH_HEADER ?? 'x-synod-key',
      ...(config.LB_HASH_BODY_FIELD === undefined ? {} : { hashBodyField: config.LB_HASH_BODY_FIELD }),
      metrics: { registry: metrics, bound },
    },
    view: { registry, router },
    edge: {
      accessLog: config.ACCESS_LOG,
      ...(config.API_KEYS_FILE === undefined ? {} : { apiKeys: config.API_KEYS_FILE }),
      ...(config.RATE_LIMIT_PER_SECOND === undefined ? {} : { rateLimitPerSecond: config.RATE_LIMIT_PER_SECOND }),
      ...(config.CORS_ORIGINS === undefined ? {} : { corsOrigins: config.CORS_ORIGINS }),
    },
  });
  await listener.start();
  await busApi.start();
  health.start();
  lag.start();
  await api.listen({ port: config.PORT, host: config.HOST });
  const address = api.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.PORT;
  let serving = true;
  return {
    ready: { port, process: role.process },
    http: [httpServerInfo('api', port, api)],
    checks: [{ name: 'api', ok: () => serving }],
    ...(role.serveAdmin
      ? { opsRoutes: adminRoutes(ctx, new AdminRelay({ nc: bus.nc, namespace: config.SYNOD_NAMESPACE, gateway: instanceId, processes: 1, timeoutMs: config.ADMIN_APPLY_TIMEOUT_MS, log })) }
      : {}),
    async stop() {
      serving = false;
      health.stop();
      lag.stop();
      // fastify's close stops accepting connections and waits for in-flight requests.
      await api.close();
      busApi.stop();
      listener.stop();
      requester.close();
    },
  };
}

/** The admin routes on the ops port, relaying changes through `relay`. */
export function adminRoutes(ctx: ServiceContext<GatewayConfig>, relay: AdminRelay): OpsRoutes {
  const { config, log } = ctx;
  return opsAdminRoutes({ log, apply: (change) => relay.apply(change), ...(config.ADMIN_TOKEN === undefined ? {} : { adminToken: config.ADMIN_TOKEN }) });
}
