import { z } from 'zod';
import { MAX_LEASE_TTL_MS } from './kv.js';

/**
 * The lock manager's API on `<ns>.lock.api` (a NATS queue group `lock-manager`: any instance
 * serves any request). One subject, requests told apart by `type`. Replies are the usual
 * `{ result }` / `{ error }` envelopes. Error codes beyond the catalog: `NOT_HOLDER` (release by
 * someone who does not hold the lock) and `CONFLICT` (a compare-and-set whose expected version is
 * not the current one; `details.currentVersion` says which is).
 */

/** A lock name: letters, digits and `_ . : -`, 1-200 characters (no `/`: it separates key parts). */
export const LockName = z
  .string('name must be a string')
  .regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'name must be 1-200 letters, digits, _ . : or -');
export type LockName = z.infer<typeof LockName>;

/** A key of the optimistic API: like a store key, without control characters, at most 1024 characters. */
export const ObjectKey = z
  .string('key must be a string')
  .min(1, 'key must not be empty')
  .max(1024, 'key must be at most 1024 characters')
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f]+$/, 'key must not contain control characters');

export const LockMode = z.enum(['mutex', 'read', 'write', 'semaphore'], "mode must be one of 'mutex', 'read', 'write', 'semaphore'");
export type LockMode = z.infer<typeof LockMode>;

const LeaseRef = z.int('lease must be an integer').positive('lease must be positive');
/** Longest single acquire wait (10 minutes). */
export const MAX_LOCK_WAIT_MS = 10 * 60_000;
/** Longest lock-delay (one minute). */
export const MAX_LOCK_DELAY_MS = 60_000;
/** Most semaphore permits. */
export const MAX_PERMITS = 10_000;
/** Longest value of the optimistic API (256 KiB). */
export const MAX_OBJECT_VALUE_LENGTH = 256 * 1024;
/** Shortest and longest session TTL. */
export const MIN_SESSION_TTL_MS = 100;

export const LockSessionRequest = z.object({
  type: z.literal('session'),
  ttlMs: z
    .int('ttlMs must be an integer')
    .min(MIN_SESSION_TTL_MS, `ttlMs must be at least ${MIN_SESSION_TTL_MS}`)
    .max(MAX_LEASE_TTL_MS, `ttlMs must be at most ${MAX_LEASE_TTL_MS}`),
});
export const LockKeepAliveRequest = z.object({ type: z.literal('keepAlive'), lease: LeaseRef });
/** Ends a session: revokes the lease, which deletes every lock key riding on it. */
export const LockRevokeRequest = z.object({ type: z.literal('revoke'), lease: LeaseRef });

export const AcquireRequest = z
  .object({
    type: z.literal('acquire'),
    name: LockName,
    lease: LeaseRef,
    /** How long this request waits; 0 = try once (tryAcquire). */
    timeoutMs: z.int('timeoutMs must be an integer').min(0, 'timeoutMs must not be negative').max(MAX_LOCK_WAIT_MS, `timeoutMs must be at most ${MAX_LOCK_WAIT_MS}`),
    mode: LockMode.default('mutex'),
    /** Semaphore only: how many holders at once. */
    permits: z.int('permits must be an integer').min(1, 'permits must be at least 1').max(MAX_PERMITS, `permits must be at most ${MAX_PERMITS}`).optional(),
    /** After a holder's lease expired (not a clean release), the next holder waits this long. */
    lockDelayMs: z.int('lockDelayMs must be an integer').min(0).max(MAX_LOCK_DELAY_MS, `lockDelayMs must be at most ${MAX_LOCK_DELAY_MS}`).default(0),
    /**
     * When this request's wait ends without the lock: false (default) deletes the waiter's key and
     * answers TIMEOUT; true keeps the key (the place in line) and answers TIMEOUT with
     * `details.waiting: true`, so the client can re-send the same acquire (to any instance) and go
     * on waiting from the same place.
     */
    keepWaiting: z.boolean('keepWaiting must be a boolean').default(false),
    /**
     * Re-sent waits: `details.revision` of the previous keepWaiting answer, so that a holder's
     * expiry between two waits still counts for the lock-delay.
     */
    fromRevision: z.int('fromRevision must be an integer').nonnegative('fromRevision must not be negative').optional(),
  })
  .refine((r) => r.mode !== 'semaphore' || r.permits !== undefined, { message: 'permits is required for a semaphore', path: ['permits'] })
  .refine((r) => r.mode === 'semaphore' || r.permits === undefined, { message: 'permits is only for a semaphore', path: ['permits'] });
export type AcquireRequest = z.infer<typeof AcquireRequest>;

export const ReleaseRequest = z.object({
  type: z.literal('release'),
  name: LockName,
  lease: LeaseRef,
  token: z.int('token must be an integer').positive('token must be positive'),
  /** The mode it was acquired in: names the key, so the release is one compare-and-delete. */
  mode: LockMode.optional(),
});
/** Gives up a wait (or a hold) without a token: deletes the key of this lease on this lock. */
export const CancelRequest = z.object({ type: z.literal('cancel'), name: LockName, lease: LeaseRef });
export const LockStateRequest = z.object({ type: z.literal('state'), name: LockName });
export const ObjectReadRequest = z.object({ type: z.literal('read'), key: ObjectKey });
export const CasRequest = z.object({
  type: z.literal('cas'),
  key: ObjectKey,
  /** The version read (0: the key must not exist). */
  expectedVersion: z.int('expectedVersion must be an integer').min(0, 'expectedVersion must not be negative'),
  value: z.string('value must be a string').max(MAX_OBJECT_VALUE_LENGTH, `value must be at most ${MAX_OBJECT_VALUE_LENGTH} characters`),
  /** Makes a re-sent cas idempotent: a retry of one that applied answers its version. */
  opId: z.string('opId must be a string').regex(/^[A-Za-z0-9_-]{8,64}$/, 'opId must be 8-64 letters, digits, _ or -').optional(),
});

/** Most locks one `list` answers. */
export const MAX_LOCK_LIST = 200;
/** Every lock with a holder or a waiter, by name, a page at a time (`next`: the `after` of the next page). */
export const LockListRequest = z.object({
  type: z.literal('list'),
  after: LockName.optional(),
  limit: z.int('limit must be an integer').min(1, 'limit must be at least 1').max(MAX_LOCK_LIST, `limit must be at most ${MAX_LOCK_LIST}`).default(50),
});

export const LockRequest = z.discriminatedUnion(
  'type',
  [LockSessionRequest, LockKeepAliveRequest, LockRevokeRequest, AcquireRequest, ReleaseRequest, CancelRequest, LockStateRequest, LockListRequest, ObjectReadRequest, CasRequest],
  { error: "type must be one of 'session', 'keepAlive', 'revoke', 'acquire', 'release', 'cancel', 'state', 'list', 'read', 'cas'" },
);
export type LockRequest = z.infer<typeof LockRequest>;
export type LockRequestInput = z.input<typeof LockRequest>;

// ---- results ----

export const LockSessionResult = z.object({ lease: z.int().positive(), ttlMs: z.int().positive() });
export type LockSessionResult = z.infer<typeof LockSessionResult>;
export const LockRevokeResult = z.object({ revoked: z.boolean() });
export const AcquireResult = z.object({
  name: z.string(),
  mode: LockMode,
  lease: z.int().positive(),
  /** The fencing token: the holder key's createRevision, strictly increasing per lock name. */
  token: z.int().positive(),
  key: z.string(),
});
export type AcquireResult = z.infer<typeof AcquireResult>;
export const ReleaseResult = z.object({ released: z.boolean() });
export const CancelResult = z.object({ deleted: z.boolean() });

export const LockEntry = z.object({
  key: z.string(),
  mode: LockMode,
  lease: z.int().nonnegative(),
  /** For a holder, its fencing token; for a waiter, its place (lower goes first). */
  createRevision: z.int().positive(),
  permits: z.int().positive().optional(),
});
export type LockEntry = z.infer<typeof LockEntry>;
export const LockStateResult = z.object({
  name: z.string(),
  /** Holders (one for a mutex or writer; several readers or up to `permits` semaphore holders). */
  holders: z.array(LockEntry.extend({ token: z.int().positive(), leaseRemainingMs: z.int().nullable() })),
  /** Waiters in the order they will be granted. */
  waiters: z.array(LockEntry),
  revision: z.int().nonnegative(),
});
export type LockStateResult = z.infer<typeof LockStateResult>;

export const LockListResult = z.object({
  locks: z.array(LockStateResult.omit({ revision: true })),
  /** The `after` of the next page; null on the last one. */
  next: z.string().nullable(),
  revision: z.int().nonnegative(),
});
export type LockListResult = z.infer<typeof LockListResult>;

/**
 * The lock manager's admin requests, on `<ns>.lock.admin` (only the console's NATS user may publish
 * there). `forceRelease` deletes one holder's key, named by its fencing token, so the next grant's
 * token is still larger; `actor` is who asked, for the audit log.
 */
export const ForceReleaseRequest = z.object({
  type: z.literal('forceRelease'),
  name: LockName,
  token: z.int('token must be an integer').positive('token must be positive'),
  actor: z.string('actor must be a string').regex(/^[\w.@-]{1,64}$/, 'actor must be 1-64 letters, digits, _ . @ or -'),
});
export const LockAdminRequest = z.discriminatedUnion('type', [ForceReleaseRequest], { error: "type must be 'forceRelease'" });
export type LockAdminRequest = z.infer<typeof LockAdminRequest>;
export const ForceReleaseResult = z.object({ released: z.boolean(), key: z.string().nullable(), lease: z.int().nullable() });
export type ForceReleaseResult = z.infer<typeof ForceReleaseResult>;

export const ObjectReadResult = z.object({ key: z.string(), value: z.string().nullable(), version: z.int().nonnegative() });
export type ObjectReadResult = z.infer<typeof ObjectReadResult>;
export const CasResult = z.object({ key: z.string(), version: z.int().positive() });
export type CasResult = z.infer<typeof CasResult>;

/** Codes the lock manager sends that the catalog may not hold yet. */
export const LOCK_ERROR_CODES = { NOT_HOLDER: 'NOT_HOLDER', CONFLICT: 'CONFLICT' } as const;
