export { LockClient, natsLockRequest } from './client.js';
export type { AcquireOptions, Lock, LockClientOptions, LockContext, LockRequestFn, OptimisticOptions } from './client.js';
export { ConflictError, LeaseLostError, LockError, LockTimeoutError, NotHolderError, TooManyConflictsError, WireError, toLockError, wireCode } from './errors.js';
export { RETRIED_CODES, backoffMs } from './retry.js';
