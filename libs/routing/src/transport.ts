import type { WorkerEntry } from './registry.js';

/** One attempt of a request at one worker. */
export interface Attempt {
  endpoint: string;
  /** The request body as the client sent it (JSON the worker validates). */
  body: Uint8Array;
  requestId: string;
  /** The attempt's budget, in ms; the worker gets it as its deadline. */
  timeoutMs: number;
}

/**
 * How the router reaches workers. The gateway's is NATS request-reply ({@link NatsTransport}); an
 * in-process client of the same services can bring another. Failures are SynodErrors:
 * NO_RESPONDERS when nobody got the request (always safe to send elsewhere), TIMEOUT when no answer
 * came within the attempt's budget, BAD_GATEWAY for a reply that is not an envelope, else the
 * error the worker answered.
 */
export interface RouteTransport {
  /** Sends one attempt; resolves with the JSON text of the worker's `result`. */
  send(worker: WorkerEntry, attempt: Attempt): Promise<Uint8Array>;
  /** A liveness probe of the worker (its `_ping`); resolves once it answers anything. */
  ping(worker: WorkerEntry, timeoutMs: number): Promise<void>;
}
