import { z } from 'zod';
import { ErrorBody } from './errors.js';

/**
 * Every reply on the bus is one of two shapes: `{ result }` for success or `{ error }` from the
 * catalog. A reply that is neither is a protocol violation (the gateway answers BAD_GATEWAY).
 */
export const ResultEnvelope = z.object({ result: z.unknown() });
export const ReplyEnvelope = z.union([z.object({ error: ErrorBody }), ResultEnvelope]);
export type ReplyEnvelope = z.infer<typeof ReplyEnvelope>;

/** Default largest request a handler accepts, in bytes: well below NATS's 1 MiB max payload. */
export const DEFAULT_MAX_REQUEST_BYTES = 256 * 1024;
