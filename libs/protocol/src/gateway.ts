import { z } from 'zod';
import { EndpointName, ServiceName } from './subjects.js';

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
