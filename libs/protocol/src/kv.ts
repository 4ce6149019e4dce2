import { z } from 'zod';
import { isErrorCode, SynodError } from './errors.js';

/**
 * The key-value store's wire schemas: keys and values, the operations a client sends (put, delete,
 * range, txn, lease grant and revoke), their results, and watch events. Semantics follow etcd v3:
 * one global revision, bumped once by every write that changes something; every key keeps its
 * `createRevision`, `modRevision` and `version`. Sizes are counted in UTF-16 code units (JS string
 * length), and keys sort in JS string order.
 */

/** Longest key, in characters. */
export const MAX_KEY_LENGTH = 4096;
/** Longest value, in characters (512 KiB). */
export const MAX_VALUE_LENGTH = 512 * 1024;
/** Largest `limit` of one range. */
export const MAX_RANGE_LIMIT = 10_000;
/** Most compares in one txn. */
export const MAX_TXN_COMPARES = 128;
/** Most operations in one branch (success or failure) of a txn. */
export const MAX_TXN_OPS = 128;
/** Longest lease TTL, in milliseconds (one year). */
export const MAX_LEASE_TTL_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * The longest a client of the store takes to reach a new leader once it is elected: the clients
 * cap a keep-alive's attempt at half of it (a request to a leader that just died goes unanswered)
 * and their retry backoff at half of it. The store knows it too: it is part of the minimum lease TTL.
 */
export const LEADER_DISCOVERY_BUDGET_MS = 1000;

/**
 * The smallest lease TTL that rides through a failover of the store: clients renew every TTL/3 and
 * report a lease lost once none succeeded for a TTL, so two thirds of the TTL must cover the longest
 * election plus finding the new leader. A grant below it is raised to it.
 */
export function minLeaseTtlMs(maxElectionTimeoutMs: number): number {
  return Math.ceil((3 * (maxElectionTimeoutMs + LEADER_DISCOVERY_BUDGET_MS)) / 2);
}

/**
 * Error codes of the store. They travel as `{ code, message }` values (never thrown):
 * - LEASE_NOT_FOUND: a put names, or a revoke targets, a lease that does not exist;
 * - LEASE_EXISTS: a grant asks for an id already in use;
 * - KEY_NOT_FOUND: a put with ignoreValue or ignoreLease on a key that does not exist;
 * - COMPACTED: a read, watch or compaction at a revision at or below the compact revision;
 * - FUTURE_REVISION: a read or compaction at a revision above the current one;
 * - SESSION_STALE: a client request whose seq was already acknowledged or forgotten;
 * - INVALID: the request does not fit its schema.
 */
export const KV_ERROR_CODES = [
  'LEASE_NOT_FOUND',
  'LEASE_EXISTS',
  'KEY_NOT_FOUND',
  'COMPACTED',
  'FUTURE_REVISION',
  'SESSION_STALE',
  'INVALID',
] as const;
export const KvErrorCode = z.enum(KV_ERROR_CODES);
export type KvErrorCode = z.infer<typeof KvErrorCode>;

/** A revision: 0 is the empty store; every changing write adds one. */
export const Revision = z.int('revision must be an integer').nonnegative('revision must not be negative');
export type Revision = z.infer<typeof Revision>;

/** A lease id: a positive integer (0 means "no lease" where a lease is optional). */
export const LeaseId = z.int('lease id must be an integer').positive('lease id must be positive');
export type LeaseId = z.infer<typeof LeaseId>;

/** A lease field: 0 for none, else a lease id. */
const LeaseRef = z.int('lease must be an integer').nonnegative('lease must not be negative');

export const KvError = z.object({
  code: KvErrorCode,
  message: z.string(),
  /** With COMPACTED: the store's compact revision. */
  compactRevision: Revision.optional(),
  /** With FUTURE_REVISION: the store's current revision. */
  revision: Revision.optional(),
});
export type KvError = z.infer<typeof KvError>;

export const Key = z
  .string('key must be a string')
  .min(1, 'key must not be empty')
  .max(MAX_KEY_LENGTH, `key must be at most ${MAX_KEY_LENGTH} characters`);
export type Key = z.infer<typeof Key>;

/** A key or a key prefix: may be empty only as a prefix (the empty prefix matches every key). */
const KeyOrPrefix = z
  .string('key must be a string')
  .max(MAX_KEY_LENGTH, `key must be at most ${MAX_KEY_LENGTH} characters`);
const emptyKeyNeedsPrefix = {
  message: 'key must not be empty unless prefix is true',
  path: ['key'],
};

export const Value = z
  .string('value must be a string')
  .max(MAX_VALUE_LENGTH, `value must be at most ${MAX_VALUE_LENGTH} characters`);
export type Value = z.infer<typeof Value>;

export const KeyValue = z.object({
  key: Key,
  value: Value,
  /** Revision of the put that created the key (since its last delete). */
  createRevision: Revision,
  /** Revision of the last change to the key. */
  modRevision: Revision,
  /** Number of puts since the key was created: 1 after the create. */
  version: z.int().nonnegative(),
  /** Lease the key is attached to; 0 for none. */
  lease: LeaseRef,
});
export type KeyValue = z.infer<typeof KeyValue>;

/**
 * Sets a key. `lease` attaches the key to a lease (0 or absent: no lease, detaching it from any
 * previous one); `ignoreLease` keeps the key's current lease and `ignoreValue` its current value
 * (both need the key to exist; the value must then be empty, the lease absent). `prevKv` returns the
 * key as it was before.
 */
export const PutOp = z
  .object({
    op: z.literal('put'),
    key: Key,
    value: Value,
    lease: LeaseRef.optional(),
    prevKv: z.boolean().optional(),
    ignoreValue: z.boolean().optional(),
    ignoreLease: z.boolean().optional(),
  })
  .refine((p) => !p.ignoreValue || p.value === '', { message: 'value must be empty when ignoreValue is true', path: ['value'] })
  .refine((p) => !p.ignoreLease || !p.lease, { message: 'lease must be absent or 0 when ignoreLease is true', path: ['lease'] });
export type PutOp = z.infer<typeof PutOp>;

/** Deletes a key, or with `prefix` every key starting with `key`. `prevKv` returns what was deleted. */
export const DeleteOp = z
  .object({
    op: z.literal('delete'),
    key: KeyOrPrefix,
    prefix: z.boolean().optional(),
    prevKv: z.boolean().optional(),
  })
  .refine((d) => d.key !== '' || d.prefix === true, emptyKeyNeedsPrefix);
export type DeleteOp = z.infer<typeof DeleteOp>;

export const SortTarget = z.enum(['key', 'createRevision', 'modRevision']);
export type SortTarget = z.infer<typeof SortTarget>;
export const SortOrder = z.enum(['asc', 'desc']);
export type SortOrder = z.infer<typeof SortOrder>;

const RangeFields = {
  key: KeyOrPrefix,
  /** Every key starting with `key` (the empty prefix: every key). */
  prefix: z.boolean().optional(),
  /** Most keys returned; 0 or absent: no limit. */
  limit: z
    .int('limit must be an integer')
    .min(0, 'limit must not be negative')
    .max(MAX_RANGE_LIMIT, `limit must be at most ${MAX_RANGE_LIMIT}`)
    .optional(),
  /** Read the store as it was at this revision; 0 or absent: the current revision. */
  revision: Revision.optional(),
  /** Default 'key'. Ties are broken by key, ascending. */
  sortBy: SortTarget.optional(),
  /** Default 'asc'. */
  order: SortOrder.optional(),
  /** Return keys with empty values. */
  keysOnly: z.boolean().optional(),
  /** Return only `count` (no kvs). */
  countOnly: z.boolean().optional(),
  /** Paging: only keys strictly greater than this one (in key order). */
  after: KeyOrPrefix.optional(),
};

/** A read, as sent to `range` outside a txn. */
export const RangeRequest = z.object(RangeFields).refine((r) => r.key !== '' || r.prefix === true, emptyKeyNeedsPrefix);
export type RangeRequest = z.infer<typeof RangeRequest>;

/** A read inside a txn. */
export const RangeOp = z
  .object({ op: z.literal('range'), ...RangeFields })
  .refine((r) => r.key !== '' || r.prefix === true, emptyKeyNeedsPrefix);
export type RangeOp = z.infer<typeof RangeOp>;

/** An operation of a txn branch. */
export const TxnOp = z.discriminatedUnion('op', [PutOp, DeleteOp, RangeOp]);
export type TxnOp = z.infer<typeof TxnOp>;

const CompareOp = z.enum(['=', '!=', '<', '>']);

/**
 * A txn condition on one key. An absent key has version, createRevision, modRevision and lease 0; a
 * compare on the value of an absent key is always false (as in etcd), and `exists` is false.
 */
export const Compare = z.discriminatedUnion('target', [
  z.object({
    key: Key,
    target: z.enum(['version', 'createRevision', 'modRevision', 'lease']),
    op: CompareOp,
    value: z.int('value must be an integer for this target').nonnegative(),
  }),
  z.object({ key: Key, target: z.literal('value'), op: CompareOp, value: Value }),
  z.object({
    key: Key,
    target: z.literal('exists'),
    op: z.enum(['=', '!='], 'exists compares only with = or !='),
    value: z.boolean('value must be a boolean for exists'),
  }),
]);
export type Compare = z.infer<typeof Compare>;

/**
 * Why a txn branch is refused, or undefined if it is fine: as in etcd, a branch may not write a key
 * twice (two puts of one key, or a put of a key that a delete of the same branch covers). Deletes
 * may overlap one another.
 */
export function txnBranchConflict(ops: readonly TxnOp[]): string | undefined {
  const puts = new Set<string>();
  const deletes: { key: string; prefix: boolean }[] = [];
  for (const op of ops) {
    if (op.op === 'put') {
      if (puts.has(op.key)) return `key ${JSON.stringify(op.key)} is put twice`;
      puts.add(op.key);
    } else if (op.op === 'delete') {
      deletes.push({ key: op.key, prefix: op.prefix === true });
    }
  }
  for (const key of puts) {
    for (const d of deletes) {
      if (d.prefix ? key.startsWith(d.key) : key === d.key) {
        return `key ${JSON.stringify(key)} is both put and deleted`;
      }
    }
  }
  return undefined;
}

const TxnBranch = z.array(TxnOp).max(MAX_TXN_OPS, `a txn branch holds at most ${MAX_TXN_OPS} operations`);

const TxnFields = {
  compare: z.array(Compare).max(MAX_TXN_COMPARES, `a txn holds at most ${MAX_TXN_COMPARES} compares`),
  /** Applied when every compare holds. */
  success: TxnBranch,
  /** Applied otherwise. */
  failure: TxnBranch,
};

function refineTxn(t: { success: TxnOp[]; failure: TxnOp[] }, ctx: z.RefinementCtx): void {
  for (const branch of ['success', 'failure'] as const) {
    const conflict = txnBranchConflict(t[branch]);
    if (conflict !== undefined) ctx.addIssue({ code: 'custom', message: `${conflict} in one txn branch`, path: [branch] });
  }
}

/** Compares, then one branch applied atomically at one revision. Later ops see earlier ones' writes. */
export const Txn = z.object(TxnFields).superRefine(refineTxn);
export type Txn = z.infer<typeof Txn>;

/** A txn as a client write. */
export const TxnRequestOp = z.object({ op: z.literal('txn'), ...TxnFields }).superRefine(refineTxn);
export type TxnRequestOp = z.infer<typeof TxnRequestOp>;

/** Creates a lease; without `id` the store picks one. */
export const LeaseGrantOp = z.object({
  op: z.literal('leaseGrant'),
  /** Time to live in milliseconds (the leader keeps the deadline; the store only records it). */
  ttlMs: z
    .int('ttlMs must be an integer')
    .positive('ttlMs must be positive')
    .max(MAX_LEASE_TTL_MS, `ttlMs must be at most ${MAX_LEASE_TTL_MS}`),
  id: LeaseId.optional(),
});
export type LeaseGrantOp = z.infer<typeof LeaseGrantOp>;

/** Deletes a lease and every key attached to it, at one revision. */
export const LeaseRevokeOp = z.object({ op: z.literal('leaseRevoke'), id: LeaseId });
export type LeaseRevokeOp = z.infer<typeof LeaseRevokeOp>;

/** Most writes in one batch. */
export const MAX_BATCH_OPS = 256;

/**
 * Independent writes in one request and one log entry, applied in order as if sent one after
 * another: each has its own revision and its own outcome (one failing does not stop the others).
 * What a lock manager sends when many of its clients' acquires and releases are waiting at once.
 */
export const BatchOp = z.object({
  op: z.literal('batch'),
  ops: z
    .array(z.discriminatedUnion('op', [PutOp, DeleteOp, TxnRequestOp]))
    .min(1, 'a batch holds at least one write')
    .max(MAX_BATCH_OPS, `a batch holds at most ${MAX_BATCH_OPS} writes`),
});
export type BatchOp = z.infer<typeof BatchOp>;
export type BatchedWriteOp = BatchOp['ops'][number];

/** Every write a client may send. */
export const KvWriteOp = z.discriminatedUnion('op', [PutOp, DeleteOp, TxnRequestOp, LeaseGrantOp, LeaseRevokeOp, BatchOp]);
export type KvWriteOp = z.infer<typeof KvWriteOp>;

/**
 * Which keys a watch follows; `prevKv` adds the previous value of the key to every event; `noPut`
 * leaves out put events (etcd's NOPUT filter: a waiter that only cares about deletions).
 */
export const WatchFilter = z
  .object({ key: KeyOrPrefix, prefix: z.boolean().optional(), prevKv: z.boolean().optional(), noPut: z.boolean().optional() })
  .refine((f) => f.key !== '' || f.prefix === true, emptyKeyNeedsPrefix);
export type WatchFilter = z.infer<typeof WatchFilter>;

// ---- results ----

/** `revision`: the store revision after the put. */
export const PutResult = z.object({ revision: Revision, prevKv: KeyValue.optional() });
export type PutResult = z.infer<typeof PutResult>;

/** `revision`: the store revision after the delete (unchanged when nothing was deleted). */
export const DeleteResult = z.object({
  revision: Revision,
  deleted: z.int().nonnegative(),
  prevKvs: z.array(KeyValue).optional(),
});
export type DeleteResult = z.infer<typeof DeleteResult>;

/**
 * `revision`: the revision read at (inside a txn without an explicit revision: the txn's).
 * `count`: keys matching (key, prefix, after), ignoring limit. `more`: keys matched beyond `limit`.
 */
export const RangeResult = z.object({
  revision: Revision,
  kvs: z.array(KeyValue),
  count: z.int().nonnegative(),
  more: z.boolean(),
});
export type RangeResult = z.infer<typeof RangeResult>;

export const TxnOpResult = z.discriminatedUnion('op', [
  PutResult.extend({ op: z.literal('put') }),
  DeleteResult.extend({ op: z.literal('delete') }),
  RangeResult.extend({ op: z.literal('range') }),
]);
export type TxnOpResult = z.infer<typeof TxnOpResult>;

/** `revision`: the store revision after the txn; `results`: one per op of the branch taken. */
export const TxnResult = z.object({ revision: Revision, succeeded: z.boolean(), results: z.array(TxnOpResult) });
export type TxnResult = z.infer<typeof TxnResult>;

export const LeaseGrantResult = z.object({ id: LeaseId, ttlMs: z.int().positive() });
export type LeaseGrantResult = z.infer<typeof LeaseGrantResult>;

export const LeaseRevokeResult = z.object({ revision: Revision, deleted: z.int().nonnegative() });
export type LeaseRevokeResult = z.infer<typeof LeaseRevokeResult>;

export const CompactResult = z.object({ revision: Revision, compactRevision: Revision });
export type CompactResult = z.infer<typeof CompactResult>;

/** One write of a batch: its result (tagged with its op), or why it was not applied. */
export const BatchedWriteOutcome = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    result: z.discriminatedUnion('op', [
      PutResult.extend({ op: z.literal('put') }),
      DeleteResult.extend({ op: z.literal('delete') }),
      TxnResult.extend({ op: z.literal('txn') }),
    ]),
  }),
  z.object({ ok: z.literal(false), error: KvError }),
]);
export type BatchedWriteOutcome = z.infer<typeof BatchedWriteOutcome>;

/** `revision`: the store revision after the batch; `results`: one per write, in order. */
export const BatchResult = z.object({ revision: Revision, results: z.array(BatchedWriteOutcome) });
export type BatchResult = z.infer<typeof BatchResult>;

/** The result of a client write, tagged with the write's `op`. */
export const KvWriteResult = z.discriminatedUnion('op', [
  PutResult.extend({ op: z.literal('put') }),
  DeleteResult.extend({ op: z.literal('delete') }),
  TxnResult.extend({ op: z.literal('txn') }),
  LeaseGrantResult.extend({ op: z.literal('leaseGrant') }),
  LeaseRevokeResult.extend({ op: z.literal('leaseRevoke') }),
  BatchResult.extend({ op: z.literal('batch') }),
]);
export type KvWriteResult = z.infer<typeof KvWriteResult>;

/** A lease as the store knows it: its TTL and the keys attached, sorted. */
export const LeaseInfo = z.object({ id: LeaseId, ttlMs: z.int().positive(), keys: z.array(Key) });
export type LeaseInfo = z.infer<typeof LeaseInfo>;

/**
 * One change. The event's revision is `kv.modRevision`. For a delete, `kv` is the key with
 * `modRevision` = the delete's revision, value '', version, createRevision and lease 0. `prevKv`: the
 * key before the change, if it existed (when asked for). `cause` says a delete came from a lease
 * expiry (not from an explicit delete or revoke).
 */
export const WatchEvent = z.object({
  type: z.enum(['put', 'delete']),
  kv: KeyValue,
  prevKv: KeyValue.optional(),
  cause: z.literal('lease-expired').optional(),
  /**
   * For a watch created with `firstOf`: the key under that prefix with the lowest createRevision
   * (null: none), read on the serving replica when the event was sent, so at a revision at or
   * after the event's — the head of a line of contenders, without a read of its own.
   */
  first: z.object({ key: z.string(), createRevision: Revision }).nullable().optional(),
});
export type WatchEvent = z.infer<typeof WatchEvent>;

/** A state-machine error as the bus error it is answered with (INVALID is BAD_REQUEST). */
export function kvError(e: KvError): SynodError {
  const code = e.code === 'INVALID' ? 'BAD_REQUEST' : e.code;
  const details = e.compactRevision !== undefined ? { compactRevision: e.compactRevision } : undefined;
  if (isErrorCode(code)) return new SynodError(code, e.message, details ? { details } : {});
  return new SynodError('INTERNAL', e.message, { details: { kvCode: e.code, known: KV_ERROR_CODES } });
}
