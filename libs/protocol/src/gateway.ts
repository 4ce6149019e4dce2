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
  reported: z.object({ inFlight: z.number(), served: z.number(), errors: z.number() }),
});
export type WorkerView = z.infer<typeof WorkerView>;

export const WorkersResponse = z.object({ workers: z.array(WorkerView) });
export type WorkersResponse = z.infer<typeof WorkersResponse>;
