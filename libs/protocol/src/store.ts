import { z } from 'zod';
import { KvWriteOp, LeaseId, LeaseInfo, MAX_KEY_LENGTH, RangeRequest, Revision, WatchEvent, WatchFilter } from './kv.js';
import { ErrorBody } from './errors.js';
import { NodeIdSchema } from './subjects.js';

/**
 * The store's client API on the bus. Requests go to `<ns>.kv.leader` (only the leader subscribes),
 * stale reads to `<ns>.kv.any` (a queue group of every replica), status to a replica's own
 * `<ns>.kv.node.<id>`, watch renewals to `<ns>.kv.watch.<id>` of the replica serving the watch.
 * Replies are the usual `{ result }` or `{ error }` envelope.
 */

/** Read consistency per request. */
export const Consistency = z.enum(['linearizable', 'lease', 'stale']);
export type Consistency = z.infer<typeof Consistency>;

/** Exactly-once: a client id, a sequence number per write, and the first sequence still unanswered. */
export const StoreSession = z
  .object({
    clientId: z.string().min(1).max(256),
    seq: z.int().positive(),
    ackBelow: z.int().nonnegative().optional(),
  })
  .refine((s) => s.ackBelow === undefined || s.ackBelow <= s.seq, {
    message: 'ackBelow must not be above seq (a client cannot acknowledge the request it is sending)',
    path: ['ackBelow'],
  });
export type StoreSession = z.infer<typeof StoreSession>;

export const WriteRequest = z.object({ type: z.literal('write'), session: StoreSession, op: KvWriteOp });
export const RangeStoreRequest = z.object({ type: z.literal('range'), consistency: Consistency.default('linearizable'), request: RangeRequest });
export const KeepAliveRequest = z.object({ type: z.literal('leaseKeepAlive'), id: LeaseId });
export const TimeToLiveRequest = z.object({ type: z.literal('leaseTimeToLive'), id: LeaseId });
export const LeasesRequest = z.object({ type: z.literal('leases') });
export const CompactRequest = z.object({ type: z.literal('compact'), revision: Revision });
export const StatusRequest = z.object({ type: z.literal('status') });
export const MemberRequest = z.object({
  type: z.literal('member'),
  change: z.object({ type: z.enum(['addLearner', 'promote', 'remove']), node: NodeIdSchema }),
});
export const TransferRequest = z.object({ type: z.literal('transfer'), to: NodeIdSchema.optional() });
/** Reads a consistent snapshot of the state machine in chunks (`synodctl snapshot save`). */
export const SnapshotRequest = z.object({ type: z.literal('snapshot'), offset: z.int().nonnegative().default(0), token: z.string().max(64).optional() });
/**
 * A subject events may be published to: literal (dot-separated tokens of printable ASCII, no `*`
 * or `>`, no empty token), so a client cannot aim a watch at a wildcard. That it lies under the
 * client's own inbox prefix is checked by the replica ({@link watchInboxAllowed}); that it is the
 * client's own is proven by NATS permissions: each user may subscribe only under `_INBOX.<user>.`.
 */
export const WatchInbox = z
  .string()
  .max(256, 'expected a subject of at most 256 characters')
  .regex(/^[\x21-\x7e]+$/, 'expected a literal subject of printable ASCII')
  .refine((s) => s.split('.').every((t) => t !== '' && !t.includes('*') && !t.includes('>')), 'expected a literal subject: no empty, * or > token');

/** The inbox prefix every client may use: nats.js's `_INBOX`, and `_INBOX.<user>` under it. */
export const DEFAULT_WATCH_INBOX_PREFIX = '_INBOX';

/** Whether a (literal) watch inbox lies under `_INBOX.` or one of `extraPrefixes` (each a literal subject). */
export function watchInboxAllowed(inbox: string, extraPrefixes: readonly string[] = []): boolean {
  return [DEFAULT_WATCH_INBOX_PREFIX, ...extraPrefixes].some((p) => inbox.startsWith(`${p}.`) && inbox.length > p.length + 1);
}

export const WatchRequest = z.object({
  type: z.literal('watch'),
  /** Chosen by the client; unique among its watches. */
  watchId: z.string().min(1).max(128),
  /** Where events are published: a literal subject under the client's inbox prefix. */
  inbox: WatchInbox,
  filter: WatchFilter,
  /** First revision to deliver (0 = from the next change). */
  fromRevision: Revision.default(0),
  /** Report with every event the first key under this prefix by createRevision (`WatchEvent.first`). */
  firstOf: z.string().min(1).max(MAX_KEY_LENGTH).optional(),
  /**
   * The watch ends once its first message of events is published: the replica forgets it then, so
   * the client needs no cancel round trip (a waiter that wakes on one event).
   */
  once: z.boolean().optional(),
});
export const WatchRenewRequest = z.object({ type: z.literal('watchRenew'), watchIds: z.array(z.string().max(128)).max(1000) });
export const WatchCancelRequest = z.object({ type: z.literal('watchCancel'), watchId: z.string().max(128) });

export const StoreRequest = z.discriminatedUnion('type', [
  WriteRequest,
  RangeStoreRequest,
  KeepAliveRequest,
  TimeToLiveRequest,
  LeasesRequest,
  CompactRequest,
  StatusRequest,
  MemberRequest,
  TransferRequest,
  SnapshotRequest,
  WatchRequest,
  WatchRenewRequest,
  WatchCancelRequest,
]);
export type StoreRequest = z.infer<typeof StoreRequest>;

export const KeepAliveResult = z.object({ id: LeaseId, ttlMs: z.int().positive() });
export type KeepAliveResult = z.infer<typeof KeepAliveResult>;

export const TimeToLiveResult = z.object({ id: LeaseId, ttlMs: z.int().positive(), remainingMs: z.int().nonnegative(), keys: z.array(z.string()) });
export type TimeToLiveResult = z.infer<typeof TimeToLiveResult>;

export const LeasesResult = z.object({ leases: z.array(LeaseInfo) });

export const MemberProgress = z.object({ match: z.int(), next: z.int(), state: z.string(), lag: z.int() });

export const StatusResult = z.object({
  id: NodeIdSchema,
  role: z.string(),
  leader: NodeIdSchema.nullable(),
  term: z.int(),
  commitIndex: z.int(),
  appliedIndex: z.int(),
  lastIndex: z.int(),
  revision: Revision,
  compactRevision: Revision,
  keys: z.int(),
  membership: z.object({ voters: z.array(NodeIdSchema), learners: z.array(NodeIdSchema) }),
  /** Leader only: replication progress and lag (entries behind the leader's last index) per member. */
  progress: z.record(z.string(), MemberProgress).optional(),
  engine: z.string(),
  /** The smallest lease TTL this store grants (see `minLeaseTtlMs`): shorter grants are raised to it. */
  minLeaseTtlMs: z.int().positive(),
  /** The longest election timeout of this replica's configuration, in ms. */
  maxElectionTimeoutMs: z.int().positive(),
});
export type StatusResult = z.infer<typeof StatusResult>;

export const SnapshotChunk = z.object({
  token: z.string(),
  index: z.int(),
  revision: Revision,
  size: z.int(),
  offset: z.int(),
  /** Base64 of the chunk. */
  data: z.string(),
  done: z.boolean(),
});
export type SnapshotChunk = z.infer<typeof SnapshotChunk>;

/** `startRevision`: the first revision the watch delivers (resolves `fromRevision: 0`). */
export const WatchCreated = z.object({ watchId: z.string(), node: NodeIdSchema, renewMs: z.int().positive(), startRevision: Revision.optional() });
export type WatchCreated = z.infer<typeof WatchCreated>;

/** Published to a watch's inbox: events in revision order, or why the watch ended. */
export const WatchMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('events'), watchId: z.string(), events: z.array(WatchEvent), revision: Revision }),
  z.object({ type: z.literal('ended'), watchId: z.string(), error: ErrorBody }),
]);
export type WatchMessage = z.infer<typeof WatchMessage>;

