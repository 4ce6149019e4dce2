import { SynodError } from '@synod/protocol';

/** Base of the lock client's errors: `code` is the wire code, `retryable` whether trying again may succeed. */
export class LockError extends Error {
  override name = 'LockError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The lock was not granted in time (or, for tryAcquire, was not free). */
export class LockTimeoutError extends LockError {
  override name = 'LockTimeoutError';
  constructor(message: string, details?: unknown, cause?: unknown) {
    super('TIMEOUT', message, true, details, { cause });
  }
}

/** A release (or a fenced action) by someone who does not hold the lock any more. */
export class NotHolderError extends LockError {
  override name = 'NotHolderError';
  constructor(message: string, details?: unknown, cause?: unknown) {
    super('NOT_HOLDER', message, false, details, { cause });
  }
}

/** The session's lease is gone (expired, revoked, or not kept alive within its TTL). */
export class LeaseLostError extends LockError {
  override name = 'LeaseLostError';
  constructor(message: string, details?: unknown, cause?: unknown) {
    super('LEASE_LOST', message, false, details, { cause });
  }
}

/** A compare-and-set whose expected version is not the current one. */
export class ConflictError extends LockError {
  override name = 'ConflictError';
  constructor(
    message: string,
    readonly currentVersion: number,
    cause?: unknown,
  ) {
    super('CONFLICT', message, true, { currentVersion }, { cause });
  }
}

/** withOptimisticRetry gave up after maxAttempts conflicts. */
export class TooManyConflictsError extends LockError {
  override name = 'TooManyConflictsError';
  constructor(key: string, attempts: number, last: ConflictError) {
    super('CONFLICT', `${key}: still conflicting after ${attempts} attempts (current version ${last.currentVersion})`, false, { attempts, currentVersion: last.currentVersion }, { cause: last });
  }
}

/**
 * An error reply exactly as the lock manager sent it: its code (which the catalog may not hold yet,
 * such as NOT_HOLDER or CONFLICT) and its details are kept.
 */
export class WireError extends Error {
  override name = 'WireError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/**
 * The code an error came with: a catalogued SynodError keeps its code; a code the catalog does not
 * hold yet (NOT_HOLDER, CONFLICT) arrives as INTERNAL with `details.remoteCode`.
 */
export function wireCode(err: unknown): string | undefined {
  if (err instanceof WireError) return err.code;
  if (!(err instanceof SynodError)) return undefined;
  const d = err.details as { remoteCode?: unknown } | undefined;
  if (err.code === 'INTERNAL' && d && typeof d.remoteCode === 'string') return d.remoteCode;
  return err.code;
}

/** Maps a lock-manager error onto the client's typed errors (others pass unchanged). */
export function toLockError(err: unknown): unknown {
  if (!(err instanceof SynodError) && !(err instanceof WireError)) return err;
  const code = wireCode(err);
  switch (code) {
    case 'NOT_HOLDER':
      return new NotHolderError(err.message, err.details, err);
    case 'CONFLICT': {
      const d = err.details as { currentVersion?: unknown } | undefined;
      return new ConflictError(err.message, typeof d?.currentVersion === 'number' ? d.currentVersion : -1, err);
    }
    case 'LEASE_NOT_FOUND':
      return new LeaseLostError(err.message, err.details, err);
    case 'TIMEOUT':
      return new LockTimeoutError(err.message, err.details, err);
    default:
      return err;
  }
}
