import { z } from 'zod';

/**
 * The one catalog of error codes. Every error that crosses a process boundary (bus reply, HTTP
 * response) carries one of these codes. Codes are stable: clients may switch on them. `retryable`
 * says whether the same request may succeed if sent again (possibly to another instance);
 * `httpStatus` is the one place codes map to HTTP.
 */
export const ERROR_CATALOG = {
  BAD_REQUEST: { httpStatus: 400, retryable: false, description: 'the request is malformed or fails its schema' },
  UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, retryable: false, description: 'the request body is not JSON' },
  PAYLOAD_TOO_LARGE: { httpStatus: 413, retryable: false, description: 'the request is larger than the handler accepts, or the reply it asks for larger than one bus message' },
  UNKNOWN_SERVICE: { httpStatus: 404, retryable: false, description: 'no worker has ever announced this service' },
  UNKNOWN_ENDPOINT: { httpStatus: 404, retryable: false, description: 'the service does not serve this endpoint' },
  NOT_FOUND: { httpStatus: 404, retryable: false, description: 'no such route' },
  UNAUTHORIZED: { httpStatus: 401, retryable: false, description: 'the request carries no valid credentials (an API key, when the gateway requires one)' },
  FORBIDDEN: { httpStatus: 403, retryable: false, description: 'the caller may not do this (an admin route without the admin token, or with none configured)' },
  RATE_LIMITED: { httpStatus: 429, retryable: true, description: 'this client sent more requests than its rate allows; retry-after says when to try again' },
  NO_WORKERS: { httpStatus: 503, retryable: true, description: 'the service is known but has no live worker' },
  NO_RESPONDERS: { httpStatus: 503, retryable: true, description: 'nobody listens on the subject the request was sent to' },
  SHUTTING_DOWN: { httpStatus: 503, retryable: true, description: 'the instance is draining and takes no new work' },
  TIMEOUT: { httpStatus: 504, retryable: true, description: 'no reply within the deadline' },
  DEADLINE_EXCEEDED: { httpStatus: 504, retryable: false, description: 'the request deadline passed before the work could finish' },
  BAD_GATEWAY: { httpStatus: 502, retryable: true, description: 'the worker answered with something that is not a valid reply' },
  INTERNAL: { httpStatus: 500, retryable: false, description: 'an unexpected failure inside the handler' },
  NOT_LEADER: { httpStatus: 503, retryable: true, description: 'this replica does not lead; details.leader names the one it believes does' },
  OVERLOADED: { httpStatus: 503, retryable: true, description: 'too much uncommitted or in-flight work: back off and retry' },
  UNAVAILABLE: { httpStatus: 503, retryable: true, description: 'the cluster cannot serve this right now (no quorum, a leadership change, a lost proposal)' },
  KEY_NOT_FOUND: { httpStatus: 404, retryable: false, description: 'the key does not exist' },
  LEASE_NOT_FOUND: { httpStatus: 404, retryable: false, description: 'the lease does not exist (expired or revoked)' },
  LEASE_EXISTS: { httpStatus: 409, retryable: false, description: 'a lease with this id exists already' },
  COMPACTED: { httpStatus: 410, retryable: false, description: 'the revision asked for was compacted away; details.compactRevision says how far' },
  FUTURE_REVISION: { httpStatus: 400, retryable: false, description: 'the revision asked for does not exist yet' },
  SESSION_STALE: { httpStatus: 409, retryable: false, description: 'a retried request the client had already acknowledged' },
  NOT_HOLDER: { httpStatus: 409, retryable: false, description: 'the caller does not hold the lock (never did, released it, or its lease expired)' },
  CONFLICT: { httpStatus: 409, retryable: false, description: 'the version compared against is not the current one; details.currentVersion says what is' },
} as const satisfies Record<string, { httpStatus: number; retryable: boolean; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;
export const ERROR_CODES = Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]];

/** The error body on the wire: `{ error: { code, message, retryable } }`. */
export const ErrorBody = z.object({
  code: z.string().min(1),
  message: z.string(),
  retryable: z.boolean(),
  /** Optional structured detail (for example the failing schema paths). */
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const ErrorEnvelope = z.object({ error: ErrorBody });
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

export interface SynodErrorOptions {
  cause?: unknown;
  details?: unknown;
  /** Overrides the catalog's retryable flag (for example a timeout on a non-idempotent call). */
  retryable?: boolean;
}

/** The one error class for catalogued failures. `name` is 'SynodError'; switch on `code`. */
export class SynodError extends Error {
  override readonly name = 'SynodError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: SynodErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CATALOG[code].retryable;
    this.details = options.details;
  }

  get httpStatus(): number {
    return ERROR_CATALOG[this.code].httpStatus;
  }

  toEnvelope(): ErrorEnvelope {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) body.details = this.details;
    return { error: body };
  }

  /** Rebuilds an error received on the wire; an unknown code becomes INTERNAL with the code kept in details. */
  static fromBody(body: ErrorBody): SynodError {
    if (isErrorCode(body.code)) {
      return new SynodError(body.code, body.message, { retryable: body.retryable, details: body.details });
    }
    const details = typeof body.details === 'object' && body.details !== null ? { ...body.details, remoteCode: body.code } : { remoteCode: body.code, remoteDetails: body.details };
    return new SynodError('INTERNAL', body.message, { retryable: body.retryable, details });
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, code);
}

export function httpStatusOf(code: string): number {
  return isErrorCode(code) ? ERROR_CATALOG[code].httpStatus : 500;
}

/** Wraps anything thrown into a SynodError; non-Synod errors become INTERNAL with the cause chained. */
export function toSynodError(err: unknown): SynodError {
  if (err instanceof SynodError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SynodError('INTERNAL', message, { cause: err });
}
