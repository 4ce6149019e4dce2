import { z } from 'zod';
import { ErrorBody } from './errors.js';
import { EndpointName, ServiceName, WorkerId } from './subjects.js';

/** Path parameters of `POST /v1/services/:service/:endpoint`. */
export const RouteParams = z.object({ service: ServiceName, endpoint: EndpointName });
export type RouteParams = z.infer<typeof RouteParams>;

/** One row of `GET /v1/workers`. */
export const WorkerView = z.object({
  id: z.string(),
  service: z.string(),
  version: z.string().optional(),
  weight: z.number(),
  endpoints: z.array(z.string()),
  /** When the last announce or heartbeat arrived, ISO 8601. */
  lastHeartbeat: z.string(),
  /** Milliseconds since the last announce or heartbeat. */
  lastHeartbeatAgeMs: z.number(),
  /** Requests this gateway has sent the worker that are not answered yet. */
  inFlight: z.number(),
  /** Requests this gateway has had answered by the worker. */
  served: z.number(),
  /** Requests to the worker that failed (error reply, timeout, no responders). */
  errors: z.number(),
  /** Load as the worker reported it in its last heartbeat. */
  reported: z.object({ inFlight: z.number(), served: z.number(), errors: z.number(), ewmaMs: z.number().optional() }),
  /** The weight the worker reported; `weight` differs from it when an operator set an override. */
  reportedWeight: z.number().optional(),
  /** A weight set through the admin route, in force until cleared. */
  weightOverride: z.number().optional(),
  /** The balancing strategy of the worker's service on this gateway. */
  strategy: z.string().optional(),
  /** This gateway's peak-EWMA estimate of the worker's latency, in ms (absent before any answer). */
  ewmaMs: z.number().optional(),
  /** Most requests this gateway sends the worker at once (absent: unlimited). */
  maxConcurrency: z.number().optional(),
  /** Whether outlier detection has the worker ejected (it takes no traffic until `ejectedUntil`). */
  ejected: z.boolean().optional(),
  /** When the current ejection ends, ISO 8601. */
  ejectedUntil: z.string().optional(),
  /** Times the worker was ejected (the ejection time grows with it). */
  ejections: z.number().optional(),
  /** Share factor of slow start in (0, 1]; 1 once the ramp is over. */
  slowStartFactor: z.number().optional(),
});
export type WorkerView = z.infer<typeof WorkerView>;

export const WorkersResponse = z.object({ workers: z.array(WorkerView) });
export type WorkersResponse = z.infer<typeof WorkersResponse>;

/** One row of `GET /v1/services`: a service as one gateway process sees it. */
export const ServiceView = z.object({
  service: z.string(),
  strategy: z.string().describe('the balancing strategy of the service on this gateway'),
  workers: z.number().describe('live workers'),
  ejected: z.number().describe('workers ejected by outlier detection right now'),
  endpoints: z.array(z.string()),
});
export type ServiceView = z.infer<typeof ServiceView>;

/** A strategy name as the bus carries it; each gateway checks it against its own strategy table. */
const StrategyToken = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'expected a strategy name');

const AdminFields = {
  type: z.literal('admin'),
  v: z.literal(1),
  /** Who asked, for the logs: an operator tool (`synodctl`) or a gateway relaying its ops port's admin route. */
  from: z.string().min(1).max(128),
  /** Names the change in every gateway's log. */
  id: z.string().min(1).max(128),
};

/**
 * Sent on `<ns>.gateway.admin` as a request: every process of every gateway instance of the
 * namespace applies it and answers with a {@link GatewayAdminApplied}. A weight of `null` or a
 * strategy of `null` goes back to what the worker reports or the configured strategy.
 */
export const GatewayAdminCommand = z.discriminatedUnion('op', [
  z.object({ ...AdminFields, op: z.literal('weight'), worker: WorkerId, weight: z.number().int().min(0).max(1000).nullable() }),
  z.object({ ...AdminFields, op: z.literal('strategy'), service: ServiceName, strategy: StrategyToken.nullable() }),
]);
export type GatewayAdminCommand = z.infer<typeof GatewayAdminCommand>;

/** Identifies one gateway process: its instance and its process number (1 to GATEWAY_PROCESSES). */
const GatewayProcess = {
  gateway: z.string().min(1).max(128),
  process: z.number().int().min(1).max(1024),
};

/**
 * One gateway process's answer to a {@link GatewayAdminCommand} (the `result` of the reply): what it
 * left in force (`state`), or why it refused (`error`: NOT_FOUND for a worker or service it does
 * not know, BAD_REQUEST for a strategy it does not have).
 */
export const GatewayAdminApplied = z.object({
  ...GatewayProcess,
  ok: z.boolean(),
  state: z.record(z.string(), z.unknown()).optional(),
  error: ErrorBody.optional(),
});
export type GatewayAdminApplied = z.infer<typeof GatewayAdminApplied>;

/** Sent on `<ns>.gateway.stats` as a request; every gateway process answers with {@link GatewayStats}. */
export const GatewayStatsRequest = z.object({
  type: z.literal('stats'),
  v: z.literal(1),
  /** Only this service's workers and row. */
  service: ServiceName.optional(),
});
export type GatewayStatsRequest = z.infer<typeof GatewayStatsRequest>;

/** One gateway process's view: its workers (as `GET /v1/workers`) and services (as `GET /v1/services`). */
export const GatewayStats = z.object({
  ...GatewayProcess,
  workers: z.array(WorkerView),
  services: z.array(ServiceView),
  /** Requests waiting for a free worker right now, and the most that ever waited at once. */
  pending: z.number(),
  pendingPeak: z.number(),
});
export type GatewayStats = z.infer<typeof GatewayStats>;
