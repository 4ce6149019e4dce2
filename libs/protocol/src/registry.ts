import { z } from 'zod';
import { EndpointName, ServiceName, WorkerId } from './subjects.js';

/** Load a worker reports about itself in every announce and heartbeat. */
export const WorkerLoad = z.object({
  /** Jobs being handled right now. */
  inFlight: z.number().int().nonnegative(),
  /** Jobs answered since start (successes and failures). */
  served: z.number().int().nonnegative(),
  /** Jobs answered with an error since start. */
  errors: z.number().int().nonnegative(),
  /** Exponentially weighted moving average of the worker's own service time, in milliseconds. */
  ewmaMs: z.number().nonnegative().optional(),
});
export type WorkerLoad = z.infer<typeof WorkerLoad>;

const WorkerInfoFields = {
  v: z.literal(1),
  id: WorkerId,
  service: ServiceName,
  version: z.string().max(64).optional(),
  /** Relative share under weighted balancing; 0 takes no traffic. */
  weight: z.number().int().min(0).max(1000),
  endpoints: z.array(EndpointName).min(1).max(256),
  /** Endpoints declared idempotent: a gateway may retry them after a timeout (a subset of `endpoints`). */
  idempotent: z.array(EndpointName).max(256).optional(),
  /** Jobs this worker takes at once; a gateway sends it no more than this many concurrently. */
  maxConcurrency: z.number().int().positive().max(100_000).optional(),
  /** How often this worker heartbeats, in milliseconds (gateways may use it to judge expiry). */
  heartbeatIntervalMs: z.number().int().positive(),
  load: WorkerLoad,
};

/**
 * Sent on `<ns>.registry.announce`: at start, on every heartbeat and in answer to a discover. Every
 * message carries the worker's whole description, so a gateway that missed the first announce
 * learns the worker from the next heartbeat.
 */
export const WorkerAnnounce = z.object({ type: z.enum(['announce', 'heartbeat']), ...WorkerInfoFields });
export type WorkerAnnounce = z.infer<typeof WorkerAnnounce>;

/** Sent on `<ns>.registry.deregister` when a worker starts draining. */
export const WorkerDeregister = z.object({
  type: z.literal('deregister'),
  v: z.literal(1),
  id: WorkerId,
  service: ServiceName,
});
export type WorkerDeregister = z.infer<typeof WorkerDeregister>;

/** Sent on `<ns>.registry.discover` by a starting gateway: every worker answers with an announce. */
export const RegistryDiscover = z.object({
  type: z.literal('discover'),
  v: z.literal(1),
  from: z.string().max(128),
});
export type RegistryDiscover = z.infer<typeof RegistryDiscover>;

export const RegistryMessage = z.discriminatedUnion('type', [WorkerAnnounce, WorkerDeregister, RegistryDiscover]);
export type RegistryMessage = z.infer<typeof RegistryMessage>;
