import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AcquireResult,
  CancelResult,
  CasResult,
  LockRevokeResult,
  LockSessionResult,
  LockStateResult,
  ObjectReadResult,
  ReleaseResult,
  ReplyEnvelope,
  LEADER_DISCOVERY_BUDGET_MS,
  SynodError,
  subjects,
  toSynodError,
  type LockMode,
  type LockRequestInput,
} from '@synod/protocol';
import { mapRequestError, requestHeaders, sharedRequester } from '@synod/service-kit';
import type { z } from 'zod';
import { ConflictError, LeaseLostError, LockTimeoutError, NotHolderError, TooManyConflictsError, WireError, toLockError, wireCode } from './errors.js';
import { RETRIED_CODES, abortableSleep, backoffMs } from './retry.js';

/** Sends one request and resolves with the reply's `result`, or rejects with a SynodError. */
export type LockRequestFn = (subject: string, body: unknown, opts: { timeoutMs: number; requestId: string }) => Promise<unknown>;

export interface LockClientOptions {
  /** The NATS connection (optional when `request` is given). */
  nc?: NatsConnection;
  namespace: string;
  /** Budget of a non-blocking call (session, keep-alive, release, read, cas...), retries included (default 10000). */
  timeoutMs?: number;
  /** Longest single attempt of a non-blocking call (default 2000): a dead instance costs at most this. */
  attemptTimeoutMs?: number;
  /**
   * Longest single acquire wait on one instance (default 1000). Longer waits are re-sent (they
   * continue the same place in line), so an instance that died mid-wait costs at most this plus
   * `attemptTimeoutMs`.
   */
  pollMs?: number;
  /** Backoff between retries (default 25 ms doubling to 500 ms, jittered). */
  retry?: { initialMs?: number; maxMs?: number };
  /**
   * How long a session lease with no lock on it is kept before it is revoked (default 2000). Locks
   * taken meanwhile ride on it without a new lease grant.
   */
  sessionIdleMs?: number;
  /** Transport override (tests). */
  request?: LockRequestFn;
  random?: () => number;
}

export interface AcquireOptions {
  /** TTL of the session lease the lock rides on (default 10000; raised to the store's minimum lease TTL). */
  ttlMs?: number;
  /** How long to wait for the lock (default 10000; 0 = tryAcquire). */
  timeoutMs?: number;
  signal?: AbortSignal;
  mode?: LockMode;
  /** Semaphore only. */
  permits?: number;
  /** After a holder's lease expired, wait this long before taking the lock (default 0). */
  lockDelayMs?: number;
}

/** A granted lock. */
export interface Lock {
  readonly name: string;
  readonly mode: LockMode;
  /** The fencing token: pass it to every resource the lock protects; it only grows. */
  readonly token: number;
  readonly lease: number;
  /**
   * The session lease's TTL as granted: the store raises a TTL below its minimum (one that rides
   * through a failover of the store) to that minimum.
   */
  readonly ttlMs: number;
  /** Aborted (reason: LeaseLostError) when the lease is lost; the lock must be taken as gone. */
  readonly signal: AbortSignal;
  /** Releases the lock. True if it was still held. Never throws. */
  release(): Promise<boolean>;
  /**
   * Stops the keep-alives of this lock's session without releasing: what a crash or a pause of the
   * process looks like (tests, drills). Every lock on the same session goes with it.
   */
  stopKeepAlive(): void;
}

export interface LockContext {
  token: number;
  lease: number;
  signal: AbortSignal;
}

export interface OptimisticOptions {
  /** Attempts before giving up with TooManyConflictsError (default 10). */
  maxAttempts?: number;
  signal?: AbortSignal;
  /** Backoff after a conflict (default 10 ms doubling to 500 ms, jittered). */
  backoff?: { initialMs?: number; maxMs?: number };
}

interface CallOptions {
  deadline?: number;
  signal?: AbortSignal;
  /** Longest attempt; default the client's attemptTimeoutMs. */
  attemptMs?: number;
}

/**
 * A session lease shared by the locks of one client with one TTL, as etcd's concurrency.Session: one
 * lease grant and one keep-alive stream for many locks. A session holds at most one key per lock
 * name (the key is `<name>/<mode>/<lease>`), so two acquires of one name from the same client ride on
 * different sessions and exclude each other like any two clients.
 */
interface Session {
  /** The TTL asked for (sessions are shared by the locks asking for the same one). */
  ttlMs: number;
  /** The TTL the store granted (at least its minimum lease TTL); set once the grant answered. */
  grantedTtlMs?: number;
  lease: Promise<number>;
  /** Set once the grant answered. */
  leaseId?: number;
  ka?: KeepAlive;
  /** Lock names with a key (held, waiting, or being cancelled) on this session. */
  names: Set<string>;
  /** No new lock may ride on it (stopped, lost, or a key on it could not be cleaned up). */
  retired: boolean;
  idleTimer?: NodeJS.Timeout;
}

/**
 * The client of the lock manager (`apps/lock-manager`) on `<ns>.lock.api`. Pessimistic locks
 * (mutex, read-write, semaphore) ride on session leases the client keeps alive through the lock
 * manager (shared by its locks; see `Session`); optimistic updates use versioned compare-and-set.
 * Requests that fail for an instance's reason (no responders, unavailable, a lost reply) are
 * re-sent, to whichever instance takes them: every request is idempotent (acquire continues the
 * same wait, cas carries an op id). `close()` revokes the sessions.
 */
export class LockClient {
  readonly namespace: string;
  private readonly subject: string;
  private readonly request: LockRequestFn;
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly pollMs: number;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly random: () => number;
  private counter = 0;
  private readonly prefix = randomBytes(4).toString('hex');
  private readonly sessionIdleMs: number;
  private readonly sessions = new Set<Session>();

  constructor(opts: LockClientOptions) {
    this.namespace = opts.namespace;
    this.subject = subjects.lockApi(opts.namespace);
    const nc = opts.nc;
    if (!opts.request && !nc) throw new TypeError('LockClient needs nc or request');
    this.request = opts.request ?? natsLockRequest(nc!);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 2000;
    this.pollMs = opts.pollMs ?? 1000;
    this.retry = { initialMs: opts.retry?.initialMs ?? 25, maxMs: opts.retry?.maxMs ?? 500 };
    this.random = opts.random ?? Math.random;
    this.sessionIdleMs = opts.sessionIdleMs ?? 2000;
  }

  /** One request, re-sent on instance failures until the deadline. Errors come back typed. */
  private async call<T>(body: LockRequestInput, schema: z.ZodType<T>, opts: CallOptions = {}): Promise<T> {
    const deadline = opts.deadline ?? Date.now() + this.timeoutMs;
    const requestId = `lc-${this.prefix}-${++this.counter}`;
    let last: SynodError | undefined;
    for (let attempt = 1; ; attempt++) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const left = deadline - Date.now();
      if (left <= 0) throw toLockError(last ?? new SynodError('TIMEOUT', `no lock manager answered within the deadline`));
      try {
        const raw = await this.request(this.subject, body, { timeoutMs: Math.min(left, opts.attemptMs ?? this.attemptTimeoutMs), requestId: `${requestId}.${attempt}` });
        const parsed = schema.safeParse(raw);
        if (!parsed.success) throw new SynodError('BAD_GATEWAY', `malformed ${body.type} reply from the lock manager`);
        return parsed.data;
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const e = err instanceof WireError ? err : toSynodError(err);
        const code = wireCode(e) ?? 'INTERNAL';
        // A TIMEOUT the lock manager sent itself (an acquire's wait ended) is an answer, not a lost reply.
        const answered = code === 'TIMEOUT' && (e.details as { waiting?: unknown } | undefined)?.waiting !== undefined;
        if (answered || !RETRIED_CODES.has(code)) throw toLockError(e);
        last = e instanceof WireError ? new SynodError('UNAVAILABLE', e.message, { cause: e }) : e;
        await abortableSleep(Math.min(backoffMs(attempt, this.retry.initialMs, this.retry.maxMs, this.random), Math.max(0, deadline - Date.now())), opts.signal);
      }
    }
  }

  /** Grants a session lease with this TTL. */
  session(ttlMs: number, opts: { signal?: AbortSignal } = {}): Promise<{ lease: number; ttlMs: number }> {
    return this.call({ type: 'session', ttlMs }, LockSessionResult, opts);
  }

  keepAliveOnce(lease: number, opts: { signal?: AbortSignal; deadline?: number } = {}): Promise<{ lease: number; ttlMs: number }> {
    return this.call({ type: 'keepAlive', lease }, LockSessionResult, opts);
  }

  /** Ends a session: every lock on it is released at once. */
  async revoke(lease: number): Promise<boolean> {
    return (await this.call({ type: 'revoke', lease }, LockRevokeResult)).revoked;
  }

  /** Holders (with tokens and lease time left) and waiters in order. */
  state(name: string): Promise<LockStateResult> {
    return this.call({ type: 'state', name }, LockStateResult);
  }

  /** Takes the lock, or throws LockTimeoutError after `timeoutMs` (LeaseLostError if the session died meanwhile). */
  async acquire(name: string, opts: AcquireOptions = {}): Promise<Lock> {
    const ttlMs = opts.ttlMs ?? 10_000;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const session = this.sessionFor(name, ttlMs);
    let lease: number;
    try {
      lease = await session.lease;
    } catch (err) {
      this.letGo(session, name);
      throw err;
    }
    const ka = session.ka!;
    const stopAll = opts.signal ? AbortSignal.any([ka.signal, opts.signal]) : ka.signal;
    const mode = opts.mode ?? 'mutex';
    try {
      let fromRevision: number | undefined;
      for (;;) {
        const left = deadline - Date.now();
        const waitMs = timeoutMs === 0 ? 0 : Math.max(0, Math.min(left, this.pollMs));
        const final = left <= this.pollMs;
        try {
          const r = await this.call(
            {
              type: 'acquire',
              name,
              lease,
              timeoutMs: waitMs,
              mode,
              ...(opts.permits === undefined ? {} : { permits: opts.permits }),
              lockDelayMs: opts.lockDelayMs ?? 0,
              keepWaiting: !final,
              ...(fromRevision === undefined ? {} : { fromRevision }),
            },
            AcquireResult,
            {
              signal: stopAll,
              attemptMs: waitMs + (opts.lockDelayMs ?? 0) + this.attemptTimeoutMs,
              deadline: Math.max(deadline, Date.now() + waitMs) + (opts.lockDelayMs ?? 0) + this.attemptTimeoutMs * 2,
            },
          );
          return this.lockHandle(name, r.mode, r.token, session);
        } catch (err) {
          const d = err instanceof LockTimeoutError ? (err.details as { waiting?: unknown; revision?: unknown } | undefined) : undefined;
          if (d?.waiting === true && Date.now() < deadline) {
            if (typeof d.revision === 'number') fromRevision = d.revision;
            continue;
          }
          throw err;
        }
      }
    } catch (err) {
      // The key may still stand in line (an abort, a lost reply): take it out, or the session must go.
      if (ka.signal.aborted) {
        this.letGo(session, name);
        throw ka.signal.reason;
      }
      // A wait the lock manager ended itself without keepWaiting took the key out already.
      const gone = err instanceof LockTimeoutError && (err.details as { waiting?: unknown } | undefined)?.waiting === false;
      if (gone) this.letGo(session, name);
      else
        void this.cancel(name, lease).then(
        () => this.letGo(session, name),
        () => this.retire(session, true),
      );
      // Named after the caller's wait, not the last of the shorter waits it was made of.
      if (err instanceof LockTimeoutError && timeoutMs > 0) throw new LockTimeoutError(`lock ${name} not granted within ${timeoutMs} ms`, err.details, err);
      if (err instanceof LockTimeoutError) throw err;
      if (err instanceof SynodError && err.code === 'TIMEOUT') throw new LockTimeoutError(`lock ${name} not granted within ${timeoutMs} ms`, undefined, err);
      throw err;
    }
  }

  /** Takes the lock only if it is free right now; else throws LockTimeoutError at once. */
  tryAcquire(name: string, opts: Omit<AcquireOptions, 'timeoutMs'> = {}): Promise<Lock> {
    return this.acquire(name, { ...opts, timeoutMs: 0 });
  }

  /**
   * Runs `fn` holding the lock: the lease is kept alive meanwhile, `signal` aborts when it is lost
   * (stop touching the resource then), and the lock is always released after.
   */
  async withLock<T>(name: string, fn: (ctx: LockContext) => Promise<T>, opts: AcquireOptions = {}): Promise<T> {
    const lock = await this.acquire(name, opts);
    try {
      return await fn({ token: lock.token, lease: lock.lease, signal: lock.signal });
    } finally {
      await lock.release();
    }
  }

  /** The value (null if absent) and its version (0 if absent). */
  async read(key: string, opts: { signal?: AbortSignal } = {}): Promise<{ value: string | null; version: number }> {
    const r = await this.call({ type: 'read', key }, ObjectReadResult, opts);
    return { value: r.value, version: r.version };
  }

  /** Writes `value` if the key is still at `expectedVersion` (0: absent); else throws ConflictError. */
  async compareAndSet(key: string, expectedVersion: number, value: string, opts: { signal?: AbortSignal } = {}): Promise<{ version: number }> {
    const opId = `${this.prefix}-${randomBytes(8).toString('hex')}`;
    const r = await this.call({ type: 'cas', key, expectedVersion, value, opId }, CasResult, opts);
    return { version: r.version };
  }

  /**
   * Read, compute `update` (pure: it may run several times), compare-and-set; on a conflict wait a
   * jittered backoff and start again, at most `maxAttempts` times.
   */
  async withOptimisticRetry(
    key: string,
    update: (current: string | null, version: number) => string,
    opts: OptimisticOptions = {},
  ): Promise<{ value: string; version: number; attempts: number }> {
    const maxAttempts = opts.maxAttempts ?? 10;
    const initialMs = opts.backoff?.initialMs ?? 10;
    const maxMs = opts.backoff?.maxMs ?? 500;
    let last: ConflictError | undefined;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { value, version } = await this.read(key, opts);
      const next = update(value, version);
      try {
        const r = await this.compareAndSet(key, version, next, opts);
        return { value: next, version: r.version, attempts: attempt };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        last = err;
        if (attempt < maxAttempts) await abortableSleep(backoffMs(attempt, initialMs, maxMs, this.random), opts.signal);
      }
    }
    throw new TooManyConflictsError(key, maxAttempts, last!);
  }

  private lockHandle(name: string, mode: LockMode, token: number, session: Session): Lock {
    let released: Promise<boolean> | undefined;
    const ka = session.ka!;
    const lease = session.leaseId!;
    return {
      name,
      mode,
      token,
      lease,
      ttlMs: session.grantedTtlMs!,
      signal: ka.signal,
      stopKeepAlive: () => this.retire(session, false),
      release: () => {
        released ??= (async () => {
          if (ka.signal.aborted) {
            this.letGo(session, name);
            return false;
          }
          try {
            const held = (await this.call({ type: 'release', name, lease, token, mode }, ReleaseResult)).released;
            this.letGo(session, name);
            return held;
          } catch (err) {
            if (err instanceof NotHolderError) {
              this.letGo(session, name);
              return false;
            }
            // No lock manager took the release: the key may still hold the lock, so its session
            // must not live on. Revoking it (or, failing that, its expiry) frees the lock.
            this.retire(session, true);
            return false;
          }
        })();
        return released;
      },
    };
  }

  /** A live session of this TTL with no key on `name`, or a new one; `name` is marked taken on it. */
  private sessionFor(name: string, ttlMs: number): Session {
    for (const s of this.sessions) {
      if (s.retired || s.ttlMs !== ttlMs || s.names.has(name) || s.ka?.signal.aborted) continue;
      clearTimeout(s.idleTimer);
      s.idleTimer = undefined;
      s.names.add(name);
      return s;
    }
    const session: Session = { ttlMs, names: new Set([name]), retired: false, lease: Promise.resolve(0) };
    session.lease = this.session(ttlMs).then(
      ({ lease, ttlMs: grantedTtlMs }) => {
        session.leaseId = lease;
        // The store may have raised the TTL to its minimum (one that rides through a failover):
        // keep-alives and the lost-lease rule follow what it granted.
        session.grantedTtlMs = grantedTtlMs;
        session.ka = this.startKeepAlive(lease, grantedTtlMs);
        session.ka.signal.addEventListener('abort', () => this.retire(session, false), { once: true });
        if (session.retired) session.ka.stop();
        return lease;
      },
      (err: unknown) => {
        session.retired = true;
        this.sessions.delete(session);
        throw err;
      },
    );
    this.sessions.add(session);
    return session;
  }

  /** `name` has no key on the session any more; an unused session is revoked after `sessionIdleMs`. */
  private letGo(session: Session, name: string): void {
    session.names.delete(name);
    if (session.names.size > 0 || session.retired) return;
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => {
      if (session.names.size === 0) this.retire(session, true);
    }, this.sessionIdleMs);
    session.idleTimer.unref();
  }

  /** Takes the session out of use: keep-alives stop; with `revoke`, its lease (and every key on it) goes now. */
  private retire(session: Session, revoke: boolean): void {
    clearTimeout(session.idleTimer);
    const first = !session.retired;
    session.retired = true;
    this.sessions.delete(session);
    session.ka?.stop();
    if (revoke && first && session.leaseId !== undefined && !session.ka?.signal.aborted) void this.revoke(session.leaseId).catch(() => undefined);
  }

  /** Revokes every session (releasing every lock still held) and stops all keep-alives. */
  async close(): Promise<void> {
    const open = [...this.sessions];
    for (const s of open) {
      clearTimeout(s.idleTimer);
      s.retired = true;
      s.ka?.stop();
      this.sessions.delete(s);
    }
    await Promise.all(
      open.map(async (s) => {
        const lease = await s.lease.catch(() => undefined);
        if (lease !== undefined && !s.ka?.signal.aborted) await this.revoke(lease).catch(() => undefined);
      }),
    );
  }

  /** Keeps a lease alive every TTL/3 through the lock manager; reports it lost on LEASE_NOT_FOUND or a TTL without success. */
  private startKeepAlive(lease: number, ttlMs: number): KeepAlive {
    const lost = new AbortController();
    const stopped = new AbortController();
    const loop = async () => {
      let lastOk = Date.now();
      while (!stopped.signal.aborted) {
        await abortableSleep(ttlMs / 3, stopped.signal).catch(() => undefined);
        if (stopped.signal.aborted) return;
        const sentAt = Date.now();
        try {
          // A lock manager answers a keep-alive within a store round trip; one that died must not
          // hold the attempt for longer than the leader-discovery budget.
          await this.call({ type: 'keepAlive', lease }, LockSessionResult, { signal: stopped.signal, deadline: lastOk + ttlMs, attemptMs: LEADER_DISCOVERY_BUDGET_MS });
          lastOk = sentAt;
        } catch (err) {
          if (stopped.signal.aborted) return;
          if (err instanceof LeaseLostError || Date.now() >= lastOk + ttlMs) {
            lost.abort(new LeaseLostError(`lease ${lease} lost: ${err instanceof Error ? err.message : String(err)}`, { lease }, err));
            return;
          }
        }
      }
    };
    void loop();
    return { signal: lost.signal, stop: () => stopped.abort() };
  }

  /** Gives up a wait (or hold) of this lease on this lock without a token. */
  async cancel(name: string, lease: number): Promise<boolean> {
    return (await this.call({ type: 'cancel', name, lease }, CancelResult)).deleted;
  }
}

interface KeepAlive {
  signal: AbortSignal;
  stop(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Requests to the lock manager on NATS with the Synod headers. Unlike `busRequest`, an error reply
 * keeps its code and details as sent (WireError), so codes the catalog does not hold yet arrive
 * intact. Requests go through one BusRequester per connection (one inbox subscription, shared by
 * every client on it), which skips the Error the NATS client builds for every request. Exported
 * so other clients of the lock manager (synodctl) send exactly the same way.
 */
export function natsLockRequest(nc: NatsConnection): LockRequestFn {
  return (subject, body, opts) => natsRequest(nc, subject, body, opts);
}

async function natsRequest(nc: NatsConnection, subject: string, body: unknown, opts: { timeoutMs: number; requestId: string }): Promise<unknown> {
  let data: Uint8Array;
  try {
    const msg = await sharedRequester(nc).request(subject, encoder.encode(JSON.stringify(body)), {
      timeoutMs: opts.timeoutMs,
      headers: requestHeaders(opts.requestId, opts.timeoutMs),
    });
    data = msg.data;
  } catch (err) {
    throw err instanceof SynodError ? err : mapRequestError(err, subject, opts.timeoutMs);
  }
  let reply;
  try {
    reply = ReplyEnvelope.safeParse(JSON.parse(decoder.decode(data)));
  } catch {
    throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not JSON`);
  }
  if (!reply.success) throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not a Synod envelope`);
  if ('error' in reply.data) {
    const e = reply.data.error;
    throw new WireError(e.code, e.message, e.retryable, e.details);
  }
  return reply.data.result;
}
