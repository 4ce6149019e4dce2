import { STRATEGY_NAMES } from '@synod/balancing';
import { DEFAULT_MAX_REQUEST_BYTES } from '@synod/protocol';
import { env } from '@synod/service-kit';
import { z } from 'zod';
import { ApiKeysFile, CorsOrigins } from './plugins/edge.js';
import { BodyFieldPath, IdempotentEndpoints, StrategyOverrides } from './settings.js';

const PERCENT = 'expected a number from 0 to 100';

/** The gateway's environment, beyond the variables every app takes. */
export const GATEWAY_ENV = {
  /** The API port (separate from HTTP_PORT, which serves health, metrics and admin). */
  PORT: env.port(8080),
  HOST: env.string({ default: '0.0.0.0', expected: 'expected a host or address to listen on' }),
  /** Gateway processes on the API port, each with its own NATS connection, registry view and balancer state. */
  GATEWAY_PROCESSES: env.int({ min: 1, max: 256, default: 1 }),
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
  /**
   * Active checks: ping every worker this often (0: off), a miss after the timeout, eject after this
   * many misses in a row. A frozen worker is ejected within INTERVAL × FAILURES + TIMEOUT: 1.5 s with
   * these, before it can leave the registry (WORKER_EXPIRY_MS after its last heartbeat, so at least
   * 2 s after it froze with the SDK's 1 s heartbeats).
   */
  HEALTH_CHECK_INTERVAL_MS: env.int({ min: 0, max: 600_000, default: 250 }),
  HEALTH_CHECK_TIMEOUT_MS: env.int({ min: 1, max: 600_000, default: 750 }),
  HEALTH_CHECK_FAILURES: env.int({ min: 0, max: 1000, default: 3 }),
  /** Retries: budget as a share of requests plus a floor per second, attempts per request, attempt timeout (0: whole deadline). */
  RETRY_BUDGET_PERCENT: env.int({ min: 0, max: 100, default: 20 }),
  RETRY_MIN_PER_SECOND: env.int({ min: 0, max: 100_000, default: 10 }),
  RETRY_MAX_ATTEMPTS: env.int({ min: 1, max: 10, default: 3 }),
  RETRY_ATTEMPT_TIMEOUT_MS: env.int({ min: 0, max: 600_000, default: 0 }),
  /** Endpoints retried after a timeout besides those workers declare idempotent: `svc/echo,other/*`. */
  IDEMPOTENT_ENDPOINTS: env.of(IdempotentEndpoints),
  /** A second try of an idempotent request once the first outlived the worker's p99 (off: it duplicates work). */
  HEDGE_IDEMPOTENT: env.bool(false),
  /** Requests per worker at once when the worker states no maxConcurrency (0: unlimited). */
  WORKER_MAX_CONCURRENCY: env.int({ min: 0, max: 100_000, default: 0 }),
  /** Requests that may wait for a free worker, all services together; beyond, 503 at once. */
  MAX_PENDING: env.int({ min: 0, max: 1_000_000, default: 1000 }),
  /** Shed load (503 at once) while the event loop lags more than this (ms; 0: off), measured per window. */
  EVENT_LOOP_LAG_MS: env.int({ min: 0, max: 600_000, default: 1000 }),
  EVENT_LOOP_WINDOW_MS: env.int({ min: 50, max: 60_000, default: 500 }),
  /** The admin routes (on the ops port, HTTP_PORT) need `authorization: Bearer <ADMIN_TOKEN>`; unset: they answer 403. */
  ADMIN_TOKEN: env.string({ pattern: /^[\x21-\x7e]{16,256}$/, expected: 'expected 16-256 printable characters' }),
  /** How long an admin route waits for this gateway's processes to apply a change. */
  ADMIN_APPLY_TIMEOUT_MS: env.int({ min: 100, max: 600_000, default: 5000 }),
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
};

/** The gateway's own settings (a service context adds the common ones). */
export type GatewayConfig = z.output<z.ZodObject<typeof GATEWAY_ENV>>;

/**
 * What breaks the promise that a frozen worker is ejected before its registry expiry: active
 * checks off, or `HEALTH_CHECK_INTERVAL_MS × HEALTH_CHECK_FAILURES + HEALTH_CHECK_TIMEOUT_MS` (the
 * longest a frozen worker can stay in rotation) not below `WORKER_EXPIRY_MS`. Undefined when the
 * configuration keeps it.
 */
export function frozenWorkerWarning(c: GatewayConfig): { msg: string; variables: string[]; boundMs?: number } | undefined {
  if (c.HEALTH_CHECK_INTERVAL_MS === 0 || c.HEALTH_CHECK_FAILURES === 0) {
    return {
      msg: 'active health checks are off: a frozen worker stays in rotation until its registry expiry',
      variables: c.HEALTH_CHECK_INTERVAL_MS === 0 ? ['HEALTH_CHECK_INTERVAL_MS'] : ['HEALTH_CHECK_FAILURES'],
    };
  }
  const boundMs = c.HEALTH_CHECK_INTERVAL_MS * c.HEALTH_CHECK_FAILURES + c.HEALTH_CHECK_TIMEOUT_MS;
  if (boundMs < c.WORKER_EXPIRY_MS) return undefined;
  return {
    msg: `a frozen worker is ejected only within HEALTH_CHECK_INTERVAL_MS × HEALTH_CHECK_FAILURES + HEALTH_CHECK_TIMEOUT_MS = ${boundMs} ms, not before its registry expiry (WORKER_EXPIRY_MS = ${c.WORKER_EXPIRY_MS} ms)`,
    variables: ['HEALTH_CHECK_INTERVAL_MS', 'HEALTH_CHECK_FAILURES', 'HEALTH_CHECK_TIMEOUT_MS', 'WORKER_EXPIRY_MS'],
    boundMs,
  };
}
