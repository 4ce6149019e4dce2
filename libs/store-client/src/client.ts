import { randomBytes } from 'node:crypto';
import { createInbox as natsCreateInbox, type NatsConnection } from '@nats-io/transport-node';
import {
  CompactResult,
  type BatchedWriteOp,
  type BatchResult,
  type Compare,
  type Consistency,
  type DeleteResult,
  type KeyValue,
  KeepAliveResult,
  type KvWriteOp,
  KvWriteResult,
  type LeaseGrantResult,
  LeasesResult,
  type LeaseInfo,
  type LeaseRevokeResult,
  NodeIdSchema,
  type PutResult,
  RangeResult,
  type SortOrder,
  type SortTarget,
  SnapshotChunk,
  StatusResult,
  StoreRequest,
  SynodError,
  TimeToLiveResult,
  type TxnOp,
  type TxnResult,
  subjects,
  toSynodError,
  LEADER_DISCOVERY_BUDGET_MS,
} from '@synod/protocol';
import { busRequest, connectionInboxPrefix, mapRequestError, sharedRequester, type BusRequester } from '@synod/service-kit';
import { z } from 'zod';
import { type Clock, systemClock } from './clock.js';
import { startKeepAlive, type KeepAliveHandle, type KeepAliveOptions } from './keepalive.js';
import { DEFAULT_RETRY, type RetryPolicy, backoffMs, isRetried } from './retry.js';
import { StoreWatch, type WatchHost, type WatchOptions } from './watch.js';

/** Sends one request and resolves with the reply's `result`, or rejects with a SynodError. */
export type RequestFn = (subject: string, body: unknown, opts: { timeoutMs: number; requestId: string }) => Promise<unknown>;

export interface ClientSubscription {
  unsubscribe(): void;
}

/** Subscribes to a subject (a watch inbox); `onMessage` gets each message's payload. */
export type SubscribeFn = (subject: string, onMessage: (data: Uint8Array) => void) => ClientSubscription;

export interface StoreClientOptions {
  /** The NATS connection; optional only when `request` and `subscribe` are both given. */
  nc?: NatsConnection;
  /** The store's namespace (`SYNOD_NAMESPACE` of the replicas). */
  namespace: string;
  /**
   * Identifies this client's write session (exactly-once). Default: random. Must be unique to one
   * client instance: two clients (or one restarted process) sharing an id could get each other's
   * cached answers instead of having their writes applied.
   */
  clientId?: string;
  /** Budget of one call, retries included, in ms (default 5000). */
  timeoutMs?: number;
  /**
   * Longest single attempt, in ms (default 2000, never more than what is left of the call's
   * budget): a request to a replica that died goes unanswered, and waiting for it with the whole
   * budget would leave none for the retry.
   */
  attemptTimeoutMs?: number;
  /** Backoff between attempts (jittered, exponential). */
  retry?: Partial<RetryPolicy>;
  /**
   * Check every request against the store's schema before it leaves (default true), so a bad one
   * fails at once as BAD_REQUEST. A caller that builds its requests only from input it validated
   * itself (the lock manager) may turn it off to save the CPU: the store validates every request
   * anyway, and a bad one then fails with the store's BAD_REQUEST after one round trip.
   */
  validateRequests?: boolean;
  /**
   * Transport override (tests); default: `busRequest` on `nc` through a BusRequester (one inbox
   * subscription per connection, shared by every StoreClient on it).
   */
  request?: RequestFn;
  /** Transport override (tests); default: a NATS subscription on `nc`. */
  subscribe?: SubscribeFn;
  /** Default: a NATS inbox under the connection's `inboxPrefix` (`_INBOX.<user>` for Synod's users). */
  createInbox?: () => string;
  clock?: Clock;
  /** Randomness of the backoff jitter (default Math.random). */
  random?: () => number;
}

/** Per-call options, accepted by every method. */
export interface CallOptions {
  /** Budget of this call, retries included (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /** Aborting rejects the call with the signal's reason. */
  signal?: AbortSignal;
}

export interface PutOptions extends CallOptions {
  /** Attach the key to this lease (0 or absent: no lease). */
  lease?: number;
  /** Return the key as it was before. */
  prevKv?: boolean;
  /** Keep the current value (the key must exist; pass ''). */
  ignoreValue?: boolean;
  /** Keep the current lease (the key must exist). */
  ignoreLease?: boolean;
}

export interface GetOptions extends CallOptions {
  /** Read as the store was at this revision (0 or absent: now). */
  revision?: number;
  /** Default 'linearizable' (via the leader); 'stale' reads any replica. */
  consistency?: Consistency;
}

export interface RangeOptions extends GetOptions {
  key: string;
  prefix?: boolean;
  limit?: number;
  sortBy?: SortTarget;
  order?: SortOrder;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Paging: only keys strictly after this one. */
  after?: string;
}

export interface DeleteOptions extends CallOptions {
  prefix?: boolean;
  prevKv?: boolean;
}

export interface TxnRequest {
  compare: Compare[];
  success: TxnOp[];
  failure: TxnOp[];
}

export interface SnapshotData {
  data: Uint8Array;
  /** Log index the snapshot reflects. */
  index: number;
  /** Store revision the snapshot reflects. */
  revision: number;
}

const MemberResult = z.object({ index: z.int() });
const TransferResult = z.object({ to: NodeIdSchema });

interface Session {
  readonly clientId: string;
  nextSeq: number;
  /** Seqs sent and not yet answered (or given up on). */
  readonly outstanding: Set<number>;
}

interface CallSpec<T> {
  subject: string;
  /** The body of attempt `attempt` (0 first). */
  body: (attempt: number) => unknown;
  schema: z.ZodType<T>;
  what: string;
  /** Longest single attempt of this call, below the client's `attemptTimeoutMs`. */
  attemptMs?: number;
}

interface InternalCallOptions extends CallOptions {
  /** Absolute deadline (clock time); overrides timeoutMs. */
  deadline?: number;
}

const MAX_SNAPSHOT_RESTARTS = 3;
/** Longest attempt of a keep-alive (see LEADER_DISCOVERY_BUDGET_MS). */
export const KEEPALIVE_ATTEMPT_MS = LEADER_DISCOVERY_BUDGET_MS / 2;

/**
 * The typed client of the store. Every call has a deadline (`timeoutMs`, default 5 s) within which
 * it retries, with jittered exponential backoff, whatever failed for a reason that passes
 * (no leader yet, a follower answered, a leadership change, overload, a lost reply); other errors
 * reject at once as a SynodError. Writes carry `(clientId, seq)` so a retry applies at most once.
 */
export class StoreClient {
  readonly namespace: string;
  readonly timeoutMs: number;
  private session: Session;
  private readonly baseClientId: string;
  private readonly attemptTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly request: RequestFn;
  private readonly subscribeFn: SubscribeFn;
  private readonly createInbox: () => string;
  private readonly nc: NatsConnection | undefined;
  private readonly leaderSubject: string;
  private readonly anySubject: string;
  private readonly validateRequests: boolean;
  private requestCounter = 0;
  private rotations = 0;
  private readonly watches = new Set<StoreWatch>();
  private readonly keepAlives = new Set<KeepAliveHandle>();
  private statusListening = false;
  private closed = false;

  constructor(opts: StoreClientOptions) {
    this.namespace = opts.namespace;
    this.leaderSubject = subjects.kvLeader(opts.namespace);
    this.anySubject = subjects.kvAny(opts.namespace);
    this.timeoutMs = positive(opts.timeoutMs ?? 5000, 'timeoutMs');
    this.attemptTimeoutMs = positive(opts.attemptTimeoutMs ?? 2000, 'attemptTimeoutMs');
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    positive(this.retry.initialMs, 'retry.initialMs');
    positive(this.retry.maxMs, 'retry.maxMs');
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.nc = opts.nc;
    const nc = opts.nc;
    this.validateRequests = opts.validateRequests ?? true;
    if (opts.request) this.request = opts.request;
    else if (nc) {
      this.request = (subject, body, o) => {
        let via: BusRequester;
        try {
          via = sharedRequester(nc);
        } catch (err) {
          return Promise.reject(mapRequestError(err, subject, o.timeoutMs));
        }
        return busRequest(nc, subject, body, { ...o, via });
      };
    }
    else throw new TypeError('StoreClient needs `nc` or a `request` function');
    if (opts.subscribe) this.subscribeFn = opts.subscribe;
    else if (nc) this.subscribeFn = (subject, onMessage) => nc.subscribe(subject, { callback: (err, msg) => (err ? undefined : onMessage(msg.data)) });
    else this.subscribeFn = () => {
      throw new SynodError('INTERNAL', 'this client has no subscribe function (watch needs `nc` or `subscribe`)');
    };
    const inboxPrefix = nc ? connectionInboxPrefix(nc) : undefined;
    this.createInbox = opts.createInbox ?? (() => natsCreateInbox(inboxPrefix));
    this.baseClientId = opts.clientId ?? `c-${randomBytes(12).toString('hex')}`;
    if (this.baseClientId.length < 1 || this.baseClientId.length > 200) throw new TypeError('clientId must be 1-200 characters');
    this.session = { clientId: this.baseClientId, nextSeq: 1, outstanding: new Set() };
  }

  /** The id of the current write session (it changes if the store forgot the session). */
  get clientId(): string {
    return this.session.clientId;
  }

  // ------------------------------------------------------------------ keys

  /** Sets a key. */
  async put(key: string, value: string, opts: PutOptions = {}): Promise<PutResult> {
    const op: KvWriteOp = { op: 'put', key, value };
    if (opts.lease !== undefined) op.lease = opts.lease;
    if (opts.prevKv) op.prevKv = true;
    if (opts.ignoreValue) op.ignoreValue = true;
    if (opts.ignoreLease) op.ignoreLease = true;
    const { op: _op, ...result } = await this.write(op, 'put', opts);
    return result;
  }

  /** The key, or undefined if it does not exist (at `revision` if given). */
  async get(key: string, opts: GetOptions = {}): Promise<KeyValue | undefined> {
    return (await this.getWithRevision(key, opts)).kv;
  }

  /** The key (or undefined) and the revision it was read at. */
  async getWithRevision(key: string, opts: GetOptions = {}): Promise<{ kv: KeyValue | undefined; revision: number }> {
    const r = await this.range({ ...opts, key });
    return { kv: r.kvs[0], revision: r.revision };
  }

  /** Reads a key, a prefix or a page of one. */
  async range(opts: RangeOptions): Promise<RangeResult> {
    const { timeoutMs, signal, consistency, ...fields } = opts;
    const request = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    const body = { type: 'range', consistency: consistency ?? 'linearizable', request };
    this.check(body);
    // Stale reads may come from any replica; the others need the leader's read barrier.
    const subject = consistency === 'stale' ? this.anySubject : this.leaderSubject;
    return this.call({ subject, body: () => body, schema: RangeResult, what: 'range' }, { timeoutMs, signal });
  }

  /** Deletes a key, or every key under a prefix. */
  async delete(key: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const op: KvWriteOp = { op: 'delete', key };
    if (opts.prefix) op.prefix = true;
    if (opts.prevKv) op.prevKv = true;
    const { op: _op, ...result } = await this.write(op, 'delete', opts);
    return result;
  }

  /** Compares, then one branch applied atomically. */
  async txn(t: TxnRequest, opts: CallOptions = {}): Promise<TxnResult> {
    const { op: _op, ...result } = await this.write({ op: 'txn', compare: t.compare, success: t.success, failure: t.failure }, 'txn', opts);
    return result;
  }

  /**
   * Independent writes (puts, deletes, txns) in one request and one log entry, applied in order as
   * if sent one by one: one outcome per write, each with its own revision; one failing does not
   * stop the others. Fewer, larger requests for a caller with many writes waiting at once.
   */
  async batch(ops: BatchedWriteOp[], opts: CallOptions = {}): Promise<BatchResult> {
    const { op: _op, ...result } = await this.write({ op: 'batch', ops }, 'batch', opts);
    return result;
  }

  /** Drops history at or below `revision`. */
  async compact(revision: number, opts: CallOptions = {}): Promise<CompactResult> {
    const body = { type: 'compact', revision };
    this.check(body);
    return this.call({ subject: this.leaderSubject, body: () => body, schema: CompactResult, what: 'compact' }, opts);
  }

  // ------------------------------------------------------------------ leases

  /** Creates a lease of `ttlMs`; the store picks the id unless `id` is given. */
  async leaseGrant(ttlMs: number, opts: CallOptions & { id?: number } = {}): Promise<LeaseGrantResult> {
    const op: KvWriteOp = { op: 'leaseGrant', ttlMs };
    if (opts.id !== undefined) op.id = opts.id;
    const { op: _op, ...result } = await this.write(op, 'leaseGrant', opts);
    return result;
  }

  /** Deletes a lease and every key attached to it. */
  async leaseRevoke(id: number, opts: CallOptions = {}): Promise<LeaseRevokeResult> {
    const { op: _op, ...result } = await this.write({ op: 'leaseRevoke', id }, 'leaseRevoke', opts);
    return result;
  }

  /** One keep-alive: the leader restarts the lease's TTL. LEASE_NOT_FOUND if it is gone. */
  async leaseKeepAliveOnce(id: number, opts: CallOptions = {}): Promise<KeepAliveResult> {
    const body = { type: 'leaseKeepAlive', id };
    this.check(body);
    // A keep-alive answers at once from a live leader; one sent to a leader that just died goes
    // unanswered, and waiting a whole attempt for it would eat the lease's failover margin.
    return this.call({ subject: this.leaderSubject, body: () => body, schema: KeepAliveResult, what: 'leaseKeepAlive', attemptMs: KEEPALIVE_ATTEMPT_MS }, opts);
  }

  async leaseTimeToLive(id: number, opts: CallOptions = {}): Promise<TimeToLiveResult> {
    const body = { type: 'leaseTimeToLive', id };
    this.check(body);
    return this.call({ subject: this.leaderSubject, body: () => body, schema: TimeToLiveResult, what: 'leaseTimeToLive' }, opts);
  }

  async leases(opts: CallOptions = {}): Promise<LeaseInfo[]> {
    const r = await this.call({ subject: this.leaderSubject, body: () => ({ type: 'leases' }), schema: LeasesResult, what: 'leases' }, opts);
    return r.leases;
  }

  /**
   * Keeps a lease alive (a keep-alive every TTL/3) until `stop()`. The lease is reported lost, once,
   * through `onLost` and the handle's `signal`, when the store says it is gone (LEASE_NOT_FOUND) or
   * when no keep-alive succeeded for a whole TTL.
   */
  keepAlive(leaseId: number, opts: KeepAliveOptions = {}): KeepAliveHandle {
    this.assertOpen();
    const handle = startKeepAlive(
      {
        clock: this.clock,
        random: this.random,
        retry: this.retry,
        timeoutMs: this.timeoutMs,
        keepAliveOnce: (id, o) => this.leaseKeepAliveOnce(id, o),
        onEnd: (h) => this.keepAlives.delete(h),
      },
      leaseId,
      opts,
    );
    this.keepAlives.add(handle);
    return handle;
  }

  // ------------------------------------------------------------------ watches

  /**
   * Follows changes of a key or prefix as an async iterator of events in revision order, each
   * delivered once, from `fromRevision` (default: the revision after the current one). Survives
   * the loss of the replica serving it (it resumes on another from the next revision). Ends when
   * `signal` aborts or the loop breaks; throws a SynodError if the store ends it (COMPACTED).
   */
  watch(opts: WatchOptions): StoreWatch {
    this.assertOpen();
    const w = new StoreWatch(this.watchHost(), opts, (self) => this.watches.delete(self));
    this.watches.add(w);
    this.listenForReconnects();
    return w;
  }

  // ------------------------------------------------------------------ cluster

  /** The status of the leader, or of one replica. */
  async status(node?: string, opts: CallOptions = {}): Promise<StatusResult> {
    const subject = node === undefined ? this.leaderSubject : subjects.kvNode(this.namespace, node);
    return this.call({ subject, body: () => ({ type: 'status' }), schema: StatusResult, what: 'status' }, opts);
  }

  memberAddLearner(node: string, opts: CallOptions = {}): Promise<{ index: number }> {
    return this.member('addLearner', node, opts);
  }

  memberPromote(node: string, opts: CallOptions = {}): Promise<{ index: number }> {
    return this.member('promote', node, opts);
  }

  memberRemove(node: string, opts: CallOptions = {}): Promise<{ index: number }> {
    return this.member('remove', node, opts);
  }

  /** Asks the leader to hand over to `to` (default: the most caught-up voter). Resolves once started. */
  async transferLeadership(to?: string, opts: CallOptions = {}): Promise<{ to: string }> {
    const body = to === undefined ? { type: 'transfer' } : { type: 'transfer', to };
    this.check(body);
    return this.call({ subject: this.leaderSubject, body: () => body, schema: TransferResult, what: 'transfer' }, opts);
  }

  /** A consistent snapshot of the state machine, read from the leader in chunks. */
  async snapshot(opts: CallOptions = {}): Promise<Uint8Array> {
    return (await this.snapshotWithInfo(opts)).data;
  }

  /**
   * The snapshot's bytes with the index and revision it reflects. Each chunk gets the call's budget
   * (a snapshot of many chunks may take longer than one budget); a leader change in the middle
   * restarts from the first chunk.
   */
  async snapshotWithInfo(opts: CallOptions = {}): Promise<SnapshotData> {
    for (let restart = 0; ; restart++) {
      const parts: Uint8Array[] = [];
      let offset = 0;
      let token: string | undefined;
      try {
        for (;;) {
          const body = token === undefined ? { type: 'snapshot', offset } : { type: 'snapshot', offset, token };
          const chunk = await this.call({ subject: this.leaderSubject, body: () => body, schema: SnapshotChunk, what: 'snapshot' }, opts);
          if (chunk.offset !== offset || (token !== undefined && chunk.token !== token)) {
            throw new SynodError('BAD_GATEWAY', `snapshot chunk at offset ${chunk.offset} (token ${chunk.token}) answers offset ${offset}`, { retryable: false });
          }
          token = chunk.token;
          const bytes = Buffer.from(chunk.data, 'base64');
          parts.push(bytes);
          offset += bytes.length;
          if (chunk.done) {
            if (offset !== chunk.size) throw new SynodError('BAD_GATEWAY', `snapshot of ${chunk.size} bytes ended after ${offset}`, { retryable: false });
            const data = new Uint8Array(offset);
            let at = 0;
            for (const p of parts) {
              data.set(p, at);
              at += p.length;
            }
            return { data, index: chunk.index, revision: chunk.revision };
          }
          if (bytes.length === 0) throw new SynodError('BAD_GATEWAY', 'empty snapshot chunk before the end', { retryable: false });
        }
      } catch (err) {
        // Another leader does not know the token: start over.
        if (token !== undefined && err instanceof SynodError && err.code === 'BAD_REQUEST' && restart < MAX_SNAPSHOT_RESTARTS) continue;
        throw err;
      }
    }
  }

  /** Stops every watch and keep-alive of this client (the NATS connection stays the caller's). */
  async close(): Promise<void> {
    this.closed = true;
    for (const k of [...this.keepAlives]) k.stop();
    await Promise.all([...this.watches].map((w) => w.cancel()));
  }

  // ------------------------------------------------------------------ internals

  private async member(type: 'addLearner' | 'promote' | 'remove', node: string, opts: CallOptions): Promise<{ index: number }> {
    const body = { type: 'member', change: { type, node } };
    this.check(body);
    return this.call({ subject: this.leaderSubject, body: () => body, schema: MemberResult, what: `member ${type}` }, opts);
  }

  /**
   * A write through the client's session: the same seq on every retry, `ackBelow` the lowest seq
   * still waiting for its answer. If the store forgot the session (idle too long), the first
   * attempt is refused with SESSION_STALE without being applied: the write then starts a new session.
   */
  private async write<K extends KvWriteOp['op']>(op: KvWriteOp, kind: K, opts: CallOptions): Promise<Extract<KvWriteResult, { op: K }>> {
    this.check({ type: 'write', session: { clientId: this.session.clientId, seq: 1 }, op });
    const deadline = this.deadlineOf(opts);
    for (let rotated = false; ; ) {
      const session = this.session;
      const seq = session.nextSeq++;
      session.outstanding.add(seq);
      let attempts = 0;
      try {
        const result = await this.call(
          {
            subject: this.leaderSubject,
            body: () => {
              attempts++;
              return { type: 'write', session: { clientId: session.clientId, seq, ackBelow: Math.min(...session.outstanding) }, op };
            },
            schema: KvWriteResult,
            what: kind,
          },
          { ...opts, deadline },
        );
        if (result.op !== kind) throw new SynodError('BAD_GATEWAY', `a ${kind} was answered with a ${result.op} result`, { retryable: false });
        return result as Extract<KvWriteResult, { op: K }>;
      } catch (err) {
        if (err instanceof SynodError && err.code === 'SESSION_STALE' && attempts === 1 && !rotated) {
          rotated = true;
          if (this.session === session) this.rotateSession();
          continue;
        }
        throw err;
      } finally {
        session.outstanding.delete(seq);
      }
    }
  }

  private check(body: unknown): void {
    if (this.validateRequests) validate(body);
  }

  private rotateSession(): void {
    this.rotations++;
    const clientId = `${this.baseClientId}~${this.rotations}${randomBytes(4).toString('hex')}`;
    this.session = { clientId, nextSeq: 1, outstanding: new Set() };
  }

  private deadlineOf(opts: InternalCallOptions): number {
    return opts.deadline ?? this.clock.now() + positive(opts.timeoutMs ?? this.timeoutMs, 'timeoutMs');
  }

  /** One request with retries until the deadline; the reply is checked against `schema`. */
  private async call<T>(spec: CallSpec<T>, opts: InternalCallOptions): Promise<T> {
    this.assertOpen();
    const deadline = this.deadlineOf(opts);
    const requestId = `${this.baseClientId}-${++this.requestCounter}`;
    let last: SynodError | undefined;
    for (let attempt = 0; ; attempt++) {
      opts.signal?.throwIfAborted();
      const remaining = deadline - this.clock.now();
      if (remaining < 1) throw last ?? new SynodError('TIMEOUT', `${spec.what}: no time left for a request`);
      const timeoutMs = Math.max(1, Math.floor(Math.min(remaining, this.attemptTimeoutMs, spec.attemptMs ?? Infinity)));
      let raw: unknown;
      try {
        raw = await abortable(this.request(spec.subject, spec.body(attempt), { timeoutMs, requestId }), opts.signal);
      } catch (err) {
        if (opts.signal?.aborted && err === opts.signal.reason) throw err;
        const e = toSynodError(err);
        if (!isRetried(e)) throw e;
        last = e;
        const delay = backoffMs(attempt + 1, this.retry, this.random);
        if (deadline - this.clock.now() - delay < 1) throw last;
        await this.clock.sleep(delay, opts.signal);
        continue;
      }
      return parseReply(spec.schema, raw, spec.what);
    }
  }

  /** One attempt, no retry (watch renewals and cancels). */
  private async once<T>(subject: string, body: unknown, schema: z.ZodType<T>, what: string, timeoutMs: number): Promise<T> {
    const requestId = `${this.baseClientId}-${++this.requestCounter}`;
    let raw: unknown;
    try {
      raw = await this.request(subject, body, { timeoutMs: Math.max(1, Math.floor(timeoutMs)), requestId });
    } catch (err) {
      throw toSynodError(err);
    }
    return parseReply(schema, raw, what);
  }

  private watchHost(): WatchHost {
    return {
      namespace: this.namespace,
      timeoutMs: this.timeoutMs,
      clock: this.clock,
      random: this.random,
      retry: this.retry,
      subscribe: this.subscribeFn,
      createInbox: this.createInbox,
      call: (subject, body, schema, what, opts) => this.call({ subject, body: () => body, schema, what }, opts),
      once: (subject, body, schema, what, timeoutMs) => this.once(subject, body, schema, what, timeoutMs),
      currentRevision: async (key, prefix, opts) => (await this.range({ key, prefix, countOnly: true, ...opts })).revision,
    };
  }

  /** Messages published while the connection was down are lost: every watch resumes after a reconnect. */
  private listenForReconnects(): void {
    const nc = this.nc;
    if (!nc || this.statusListening) return;
    this.statusListening = true;
    void (async () => {
      try {
        for await (const s of nc.status()) {
          if (this.closed) break;
          if (s.type === 'reconnect') for (const w of this.watches) w.resume('NATS reconnected');
        }
      } catch {
        // The connection closed.
      }
    })();
  }

  private assertOpen(): void {
    if (this.closed) throw new SynodError('SHUTTING_DOWN', 'the store client is closed', { retryable: false });
  }
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`${what} must be a positive number, got ${n}`);
  return n;
}

/** Checks a request before it leaves, so a bad one fails at once (and is never retried). */
function validate(body: unknown): void {
  const r = StoreRequest.safeParse(body);
  if (!r.success) {
    throw new SynodError('BAD_REQUEST', `invalid request: ${z.prettifyError(r.error)}`, {
      details: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
}

export function parseReply<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new SynodError('BAD_GATEWAY', `malformed ${what} reply: ${z.prettifyError(r.error)}`, { retryable: false });
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
