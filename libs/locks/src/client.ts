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
  SynodError,
  subjects,
  toSynodError,
  type LockMode,
  type LockRequestInput,
} from '@synod/protocol';
import { mapRequestError, requestHeaders } from '@synod/service-kit';
import type { z } from 'zod';
import { ConflictError, LeaseLostError, LockTimeoutError, TooManyConflictsError, WireError, toLockError, wireCode } from './errors.js';
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
  /** Transport override (tests). */
  request?: LockRequestFn;
  random?: () => number;
}

export interface AcquireOptions {
  /** TTL of the session lease the lock rides on (default 10000). */
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
  /** Aborted (reason: LeaseLostError) when the lease is lost; the lock must be taken as gone. */
  readonly signal: AbortSignal;
  /** Releases the lock and ends its session. True if it was still held. Never throws. */
  release(): Promise<boolean>;
  /** Stops the keep-alives without releasing: what a crash or a pause looks like (tests, drills). */
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
 * The client of the lock manager (`apps/lock-manager`) on `<ns>.lock.api`. Pessimistic locks
 * (mutex, read-write, semaphore) ride on a session lease the client keeps alive through the lock
 * manager; optimistic updates use versioned compare-and-set. Requests that fail for an instance's
 * reason (no responders, unavailable, a lost reply) are re-sent, to whichever instance takes them:
 * every request is idempotent (acquire continues the same wait, cas carries an op id).
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
    const { lease } = await this.session(ttlMs, { signal: opts.signal });
    const ka = this.startKeepAlive(lease, ttlMs);
    const stopAll = AbortSignal.any(opts.signal ? [ka.signal, opts.signal] : [ka.signal]);
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
              mode: opts.mode ?? 'mutex',
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
          return this.lockHandle(name, r.mode, r.token, lease, ka);
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
      ka.stop();
      void this.revoke(lease).catch(() => undefined);
      if (ka.signal.aborted) throw ka.signal.reason;
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

  private lockHandle(name: string, mode: LockMode, token: number, lease: number, ka: KeepAlive): Lock {
    let released: Promise<boolean> | undefined;
    return {
      name,
      mode,
      token,
      lease,
      signal: ka.signal,
      stopKeepAlive: () => ka.stop(),
      release: () => {
        released ??= (async () => {
          const lost = ka.signal.aborted;
          ka.stop();
          let held = false;
          if (!lost) {
            try {
              held = (await this.call({ type: 'release', name, lease, token }, ReleaseResult)).released;
            } catch {
              // Not held any more (NOT_HOLDER, the lease expired) or no lock manager answered: the
              // lease is revoked below either way, and that frees the lock.
            }
          }
          await this.revoke(lease).catch(() => undefined);
          return held;
        })();
        return released;
      },
    };
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
          await this.keepAliveOnce(lease, { signal: stopped.signal, deadline: lastOk + ttlMs });
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
 * intact. Exported so other clients of the lock manager (synodctl) send exactly the same way.
 */
export function natsLockRequest(nc: NatsConnection): LockRequestFn {
  return (subject, body, opts) => natsRequest(nc, subject, body, opts);
}

async function natsRequest(nc: NatsConnection, subject: string, body: unknown, opts: { timeoutMs: number; requestId: string }): Promise<unknown> {
  let data: Uint8Array;
  try {
    const msg = await nc.request(subject, encoder.encode(JSON.stringify(body)), {
      timeout: Math.max(1, opts.timeoutMs),
      headers: requestHeaders(opts.requestId, opts.timeoutMs),
    });
    data = msg.data;
  } catch (err) {
    throw mapRequestError(err, subject, opts.timeoutMs);
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
