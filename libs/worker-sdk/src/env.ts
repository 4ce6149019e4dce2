import { DEFAULT_MAX_REQUEST_BYTES, ServiceName, WorkerId } from '@synod/protocol';
import { env, type CommonConfig } from '@synod/service-kit';
import type { z } from 'zod';

/**
 * The environment every worker takes beyond service-kit's common variables (`NATS_URL`,
 * `SYNOD_NAMESPACE`, `HTTP_PORT`, `LOG_LEVEL`, `SHUTDOWN_TIMEOUT_MS`). `defaultService` is the
 * service the definition names; `WORKER_SERVICE` runs the same code under another name.
 */
export function workerEnv(defaultService: string) {
  return {
    /** The service this instance serves (default: the definition's `service`). */
    WORKER_SERVICE: env.of(ServiceName.default(defaultService)),
    /** This instance's id in subjects, the registry and logs (default: `w-` and 8 random hex digits). */
    WORKER_ID: env.of(WorkerId.optional()),
    /** Relative share under weighted balancing; 0 takes no traffic. */
    WORKER_WEIGHT: env.int({ min: 0, max: 1000, default: 1 }),
    /** How often the worker heartbeats its load, in milliseconds. */
    HEARTBEAT_INTERVAL_MS: env.int({ min: 50, max: 60_000, default: 1000 }),
    /** Largest request accepted, in bytes; larger ones get PAYLOAD_TOO_LARGE. */
    MAX_REQUEST_BYTES: env.int({ min: 1024, max: 900 * 1024, default: DEFAULT_MAX_REQUEST_BYTES }),
    /** Jobs handled at once; more are answered OVERLOADED at once. Unset: no limit. */
    WORKER_MAX_CONCURRENCY: env.optionalInt({ min: 1, max: 100_000 }),
  };
}

export type WorkerEnvShape = ReturnType<typeof workerEnv>;
/** The parsed worker variables together with the common ones. */
export type WorkerConfig = z.output<z.ZodObject<WorkerEnvShape>> & CommonConfig;
