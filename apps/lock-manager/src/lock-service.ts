import { setTimeout as sleep } from 'node:timers/promises';
import {
  LockAdminRequest,
  LockRequest,
  SynodError,
  subjects,
  type AcquireRequest,
  type AcquireResult,
  type CasResult,
  type LockEntry,
  type LockMode,
  type LockSessionResult,
  type LockStateResult,
  type ObjectReadResult,
} from '@synod/protocol';
import { Counter, EndpointServer, type Logger, type NatsConnection, type Registry, type RequestContext } from '@synod/service-kit';
import type { StoreClient } from '@synod/store-client';
import { forceRelease, listLocks } from './admin.js';
import { appliedVersion, unwrap, wrap } from './objects.js';
import { TxnBatcher } from './txn-batcher.js';
import { decide, type Decision, decodePermits, encodeLockValue, lockKey, lockPrefix, parseLockKey, splitHolders } from './ownership.js';
import { conflict, notHolder } from './wire-error.js';

export interface LockServiceOptions {
  nc: NatsConnection;
  store: StoreClient;
  log: Logger;
  metrics: Registry;
  namespace: string;
  lockPrefix: string;
  dataPrefix: string;
  maxRequestBytes: number;
  /** Store writes in flight at once before the others wait to go as one batch (0: no batching). */
  writesInFlight?: number;
  /** The store client's call timeout, for a txn that comes without one. */
  storeTimeoutMs?: number;
}

/** Time kept at the end of a request's budget to answer before the requester gives up. */
const REPLY_MARGIN_MS = 150;

/**
 * The lock manager: stateless, every lock and every value lives in the store. Serves the whole API
 * on `<ns>.lock.api` in the queue group `lock-manager`, so any instance answers any request.
 */
export class LockService {
  private readonly endpoints: EndpointServer;
  private readonly log: Logger;
  private readonly wakeups: Counter;
  private readonly grants: Counter;
  private readonly grantsOnWakeup: Counter;
  private readonly txns: TxnBatcher;

  constructor(private readonly opts: LockServiceOptions) {
    this.log = opts.log.child({ component: 'locks' });
    const requests = new Counter({
      name: 'synod_lock_requests_total',
      help: 'Lock manager requests answered, by outcome and code',
      labelNames: ['outcome', 'code'],
      registers: [opts.metrics],
    });
    this.wakeups = new Counter({
      name: 'synod_lock_wakeups_total',
      help: 'Waiters woken by the deletion of a key they watched (each then re-checks ownership once)',
      registers: [opts.metrics],
    });
    this.txns = new TxnBatcher(opts.store, opts.writesInFlight ?? 1, opts.storeTimeoutMs ?? 5000);
    const txns = this.txns;
    new Counter({
      name: 'synod_lock_store_writes_total',
      help: 'Lock manager writes to the store, and the store requests that carried them (several per request when batched)',
      labelNames: ['kind'],
      registers: [opts.metrics],
      collect() {
        this.reset();
        this.inc({ kind: 'txns' }, txns.stats.txns);
        this.inc({ kind: 'requests' }, txns.stats.requests);
      },
    });
    this.grantsOnWakeup = new Counter({
      name: 'synod_lock_grants_on_wakeup_total',
      help: 'Grants decided from the wake-up itself (the next in line, its watch on the whole name), with no re-read of the line',
      registers: [opts.metrics],
    });
    this.grants = new Counter({ name: 'synod_lock_grants_total', help: 'Locks granted', labelNames: ['mode'], registers: [opts.metrics] });
    this.endpoints = new EndpointServer({
      nc: opts.nc,
      log: opts.log,
      onOutcome: (_e, outcome, code) => requests.inc({ outcome, code: code ?? '' }),
    });
  }

  start(): void {
    this.endpoints.add('lock', {
      subject: subjects.lockApi(this.opts.namespace),
      queue: 'lock-manager',
      input: LockRequest,
      maxRequestBytes: this.opts.maxRequestBytes,
      defaultTimeoutMs: 10_000,
      handler: (req, ctx) => this.handle(req, ctx),
    });
    // Admin requests on their own subject: NATS permissions let only the console publish there.
    this.endpoints.add('lock-admin', {
      subject: subjects.lockAdmin(this.opts.namespace),
      queue: 'lock-manager',
      input: LockAdminRequest,
      defaultTimeoutMs: 10_000,
      handler: async (req, ctx) => {
        const call = { signal: ctx.signal, timeoutMs: Math.max(1, ctx.deadline - Date.now() - REPLY_MARGIN_MS) };
        const r = await forceRelease(this.opts.store, this.opts.lockPrefix, req.name, req.token, call);
        this.log
          .child({ component: 'audit' })
          .warn({ actor: req.actor, action: 'forceRelease', name: req.name, token: req.token, ...r }, r.released ? 'lock force-released by an admin' : 'admin force-release: no such holder');
        return r;
      },
    });
  }

  async stop(timeoutMs: number): Promise<boolean> {
    const finished = await this.endpoints.stop(timeoutMs);
    await this.opts.store.close();
    return finished;
  }

  private handle(req: LockRequest, ctx: RequestContext): Promise<unknown> {
    const { store } = this.opts;
    const call = { signal: ctx.signal, timeoutMs: Math.max(1, ctx.deadline - Date.now() - REPLY_MARGIN_MS) };
    switch (req.type) {
      case 'session':
        return store.leaseGrant(req.ttlMs, call).then((r): LockSessionResult => ({ lease: r.id, ttlMs: r.ttlMs }));
      case 'keepAlive':
        return store.leaseKeepAliveOnce(req.lease, call).then((r): LockSessionResult => ({ lease: r.id, ttlMs: r.ttlMs }));
      case 'revoke':
        return store.leaseRevoke(req.lease, call).then(
          () => ({ revoked: true }),
          (err: unknown) => {
            if (err instanceof SynodError && err.code === 'LEASE_NOT_FOUND') return { revoked: false };
            throw err;
          },
        );
      case 'acquire':
        return this.acquire(req, ctx);
      case 'release':
        return this.release(req.name, req.lease, req.token, req.mode, call);
      case 'cancel':
        return this.cancel(req.name, req.lease, call);
      case 'state':
        return this.state(req.name, call);
      case 'list':
        return listLocks(store, this.opts.lockPrefix, req.after, req.limit, call);
      case 'read':
        return this.read(req.key, call);
      case 'cas':
        return this.cas(req.key, req.expectedVersion, req.value, req.opId, call);
    }
  }

  /** The contenders of a name in arrival order; `keysOnly`: without the values (see `keysDecide`). */
  private async entries(
    name: string,
    opts: { signal?: AbortSignal; timeoutMs?: number; consistency?: 'linearizable' | 'lease'; keysOnly?: boolean },
  ): Promise<{ entries: LockEntry[]; revision: number }> {
    const namePrefix = lockPrefix(this.opts.lockPrefix, name);
    const r = await this.opts.store.range({ key: namePrefix, prefix: true, sortBy: 'createRevision', ...opts });
    return { entries: toEntries(namePrefix, r.kvs), revision: r.revision };
  }

  /**
   * etcd's recipe: create the contender's key on its lease if absent (a retry continues the same
   * wait), then until the deadline: read the name's keys; the holder answers with its key's
   * createRevision as fencing token; a waiter watches the one key that gates it and re-checks when
   * that key is deleted.
   */
  private async acquire(req: AcquireRequest, ctx: RequestContext): Promise<AcquireResult> {
    const key = lockKey(this.opts.lockPrefix, req.name, req.mode, req.lease);
    const waitUntil = Math.min(Date.now() + req.timeoutMs, ctx.deadline - REPLY_MARGIN_MS);
    const opts = { signal: ctx.signal };
    // Store calls end before the request's deadline, so a slow store is answered with a retryable
    // error (the client re-sends) instead of DEADLINE_EXCEEDED.
    const storeOpts = () => ({ signal: ctx.signal, timeoutMs: Math.max(1, ctx.deadline - Date.now() - REPLY_MARGIN_MS) });
    const { seen, myRevision, revision: firstRevision, ahead: firstAhead } = await this.enterLine(req, key, storeOpts());
    let delayUntil = 0;
    // Lock-delay: every change up to `covered` has been checked for an expired key ahead of us.
    let covered = Math.max(req.fromRevision ?? myRevision, myRevision);
    let position = -1;
    // `ahead`: the line was read in part (see enterLine); how many keys are ahead of ours.
    let first: { entries: LockEntry[]; revision: number; ahead?: number } | undefined = { entries: seen, revision: firstRevision, ...(firstAhead === undefined ? {} : { ahead: firstAhead }) };
    for (;;) {
      // A re-check after a wake-up reads on the leader's lease (no heartbeat round to a quorum).
      // That is enough: the keys ahead of ours only ever go away (a newcomer is created after us),
      // so whether this contender holds can only change from no to yes while its key exists, and
      // the leader has applied our key's creation, which it committed before answering the txn.
      const { entries, revision, ahead }: { entries: LockEntry[]; revision: number; ahead?: number } =
        first ?? (await this.entries(req.name, { ...storeOpts(), consistency: 'lease', keysOnly: keysDecide(req.mode) }));
      first = undefined;
      const d = inLine(decide(entries, key), ahead);
      if (d.kind === 'missing') {
        throw new SynodError('LEASE_NOT_FOUND', `the waiter's key ${key} is gone: lease ${req.lease} expired or was revoked`);
      }
      position = d.position;
      if (req.lockDelayMs > 0 && covered < revision) {
        if (await this.expiredAhead(req.name, entries, myRevision, covered, ctx.signal)) delayUntil = Date.now() + req.lockDelayMs;
        covered = revision;
      }
      if (d.kind === 'holder') {
        const now = Date.now();
        // A lock-delay may outlast this poll's wait, but not the request's deadline.
        const limit = ctx.deadline - REPLY_MARGIN_MS;
        if (delayUntil > now && now < limit) {
          await sleep(Math.min(delayUntil, limit) - now, undefined, opts);
          continue;
        }
        if (delayUntil <= now) {
          const me = entries.find((e) => e.key === key)!;
          this.grants.inc({ mode: req.mode });
          return { name: req.name, mode: req.mode, lease: req.lease, token: me.createRevision, key };
        }
      }
      if (Date.now() >= waitUntil) break;
      if (d.kind === 'wait') {
        // Next in line: watch the whole name (the key ahead and our own key; newcomers only add
        // events after ours), so the wake-up itself can tell whether we hold. Further back: only
        // the key that gates us, so a release wakes one waiter.
        const watchKey = d.position === 1 ? undefined : d.watchKey;
        const ev = await this.waitForDelete(watchKey, req.name, new Set(d.ahead), key, revision + 1, waitUntil, ctx.signal);
        if (ev === 'again') continue;
        if (ev) {
          this.wakeups.inc();
          // Two ways a wake-up alone proves we hold, with no re-read (keys ahead of ours only ever
          // go away, in every mode): (1) the replica that sent the event read the head of the line
          // (`firstOf`) at a state at or after it, and it is our key, this very one; (2) a watch on
          // the whole name saw every deletion up to this one, ours included (it would have come
          // first), so the line as last read less the key just deleted holds no key that was not
          // there. Anything short of that is re-read, as is every wake-up with a lock-delay (which
          // must look at how the keys ahead went).
          if (req.lockDelayMs === 0 && ev.key !== key) {
            const mine: LockEntry[] = entries.filter((e: LockEntry) => e.key === key && e.createRevision === myRevision);
            if (ev.first?.key === key && ev.first.createRevision === myRevision && mine.length === 1) {
              first = { entries: mine, revision: ev.revision };
              this.grantsOnWakeup.inc();
            } else if (watchKey === undefined) {
              const rest: LockEntry[] = entries.filter((e: LockEntry) => e.key !== ev.key);
              if (decide(rest, key).kind === 'holder') {
                first = { entries: rest, revision: ev.revision };
                this.grantsOnWakeup.inc();
              }
            }
          }
        } else if (Date.now() < waitUntil) {
          await sleep(20, undefined, opts); // the watch failed: do not spin
        }
      }
    }
    // The wait is over without the lock.
    if (req.keepWaiting) {
      throw new SynodError('TIMEOUT', `lock ${req.name} not granted within ${req.timeoutMs} ms; still waiting at position ${position}`, {
        details: { waiting: true, position, revision: covered },
      });
    }
    await this.deleteKey(key, myRevision);
    throw new SynodError('TIMEOUT', req.timeoutMs === 0 ? `lock ${req.name} is not free` : `lock ${req.name} not granted within ${req.timeoutMs} ms`, {
      details: { waiting: false, position },
      retryable: false,
    });
  }

  /**
   * Puts the contender's key in line (if it is not there yet) and reads the line. One Raft write both
   * creates the key (if absent) and reads the whole line at that revision, so an uncontended acquire
   * needs no second round trip to the store. A wait the client continues (`fromRevision`: the last
   * answer said the key was still waiting) first looks with a read on the leader's lease: the key is
   * normally still there, and then no write is needed; if it is gone, the txn puts it back as for a
   * new contender.
   */
  private async enterLine(
    req: AcquireRequest,
    key: string,
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<{ seen: LockEntry[]; myRevision: number; revision: number; ahead?: number }> {
    if (req.fromRevision !== undefined) {
      const { entries, revision } = await this.entries(req.name, { ...opts, consistency: 'lease', keysOnly: keysDecide(req.mode) });
      const mine = entries.find((e) => e.key === key);
      if (mine && mine.lease === req.lease) return { seen: entries, myRevision: mine.createRevision, revision };
    }
    const namePrefix = lockPrefix(this.opts.lockPrefix, req.name);
    // The whole line, read in the same write.
    const line = { op: 'range' as const, key: namePrefix, prefix: true, sortBy: 'createRevision' as const, ...(keysDecide(req.mode) ? { keysOnly: true } : {}) };
    // An exclusive contender new in line (no lock-delay to look back for) needs only how many keys
    // are ahead and the one just ahead: alone it holds, else it waits on that key. So its write
    // reads the two newest keys (its own, just made, and the one before it) and the count instead
    // of the whole line (in a queue of 32, 2 keys instead of 32 per hand-off).
    const newest = exclusive(req.mode) && req.lockDelayMs === 0;
    const tail = { op: 'range' as const, key: namePrefix, prefix: true, sortBy: 'createRevision' as const, order: 'desc' as const, limit: 2, keysOnly: true };
    const t = await this.txns.txn(
      {
        compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
        success: [{ op: 'put', key, value: encodeLockValue(req.mode, req.permits), lease: req.lease }, newest ? tail : line],
        failure: [line],
      },
      opts,
    );
    const lineResult = t.results.find((r) => r.op === 'range');
    if (t.succeeded && newest && lineResult?.op === 'range') {
      const kvs = [...lineResult.kvs].reverse();
      const seen = toEntries(namePrefix, kvs);
      // Only when both keys are contenders' and the newest is ours; a key of another shape under
      // the name (written by someone else) could hide the real one ahead: read the whole line.
      if (seen.length === kvs.length && seen.at(-1)?.key === key && seen.at(-1)?.createRevision === t.revision) {
        return { seen, myRevision: t.revision, revision: t.revision, ahead: lineResult.count - 1 };
      }
      const all = await this.entries(req.name, { ...opts, consistency: 'lease', keysOnly: true });
      return { seen: all.entries, myRevision: t.revision, revision: all.revision };
    }
    const seen = lineResult?.op === 'range' ? toEntries(namePrefix, lineResult.kvs) : [];
    const existing = seen.find((e) => e.key === key);
    if (!t.succeeded && existing && existing.lease !== req.lease) {
      throw new SynodError('BAD_REQUEST', `key ${key} rides on lease ${existing.lease}, not ${req.lease}`);
    }
    const myRevision = t.succeeded ? t.revision : existing?.createRevision;
    if (myRevision === undefined) throw new SynodError('UNAVAILABLE', `the key ${key} vanished while being created; try again`);
    return { seen, myRevision, revision: t.revision };
  }

  /**
   * Whether a key ahead of ours (created before it) was deleted by a lease expiry after revision
   * `since`: the keys of the name at `since` that are gone now, and their delete events replayed
   * from `since + 1`. Any doubt (compacted history, a slow replay) counts as no expiry.
   */
  private async expiredAhead(name: string, now: LockEntry[], myRevision: number, since: number, signal: AbortSignal): Promise<boolean> {
    const namePrefix = lockPrefix(this.opts.lockPrefix, name);
    try {
      const then = await this.opts.store.range({ key: namePrefix, prefix: true, revision: since, keysOnly: true, signal });
      const present = new Set(now.map((e) => e.key));
      const vanished = new Set(then.kvs.filter((kv) => kv.createRevision < myRevision && !present.has(kv.key)).map((kv) => kv.key));
      if (vanished.size === 0) return false;
      const stop = abortAfter(signal, 1000);
      const watch = this.opts.store.watch({ key: namePrefix, prefix: true, fromRevision: since + 1, signal: stop.signal });
      try {
        for await (const ev of watch) {
          if (ev.type !== 'delete' || !vanished.has(ev.kv.key)) continue;
          if (ev.cause === 'lease-expired') return true;
          vanished.delete(ev.kv.key);
          if (vanished.size === 0) return false;
        }
      } finally {
        stop.release();
        void watch.cancel();
      }
    } catch (err) {
      this.log.debug({ err }, 'lock-delay history unavailable');
    }
    return false;
  }

  /**
   * Waits for the deletion of `watchKey` (or, when undefined, of any key in `ahead`), or of the
   * contender's own key, from `fromRevision`, until `until`. 'again' when the watch's one delivery
   * held none of those (re-check now); undefined when the time ran out or the watch failed (the
   * caller re-checks either way).
   */
  private async waitForDelete(
    watchKey: string | undefined,
    name: string,
    ahead: Set<string>,
    myKey: string,
    fromRevision: number,
    until: number,
    signal: AbortSignal,
  ): Promise<{ key: string; expired: boolean; revision: number; first: { key: string; createRevision: number } | null | undefined } | 'again' | undefined> {
    const ms = until - Date.now();
    if (ms <= 0) return undefined;
    const stop = abortAfter(signal, ms);
    const line = lockPrefix(this.opts.lockPrefix, name);
    const watch = this.opts.store.watch(
      // On the leader: the deletion that frees the lock reaches us the moment it commits. With the
      // head of the line on each event, so a wake-up that makes us the holder needs no re-read.
      // Deletions only, and one delivery: the store forgets the watch as it sends it (no cancel).
      watchKey === undefined
        ? { key: line, prefix: true, fromRevision, signal: stop.signal, leader: true, firstOf: line, noPut: true, once: true }
        : { key: watchKey, fromRevision, signal: stop.signal, leader: true, firstOf: line, noPut: true, once: true },
    );
    try {
      for await (const ev of watch) {
        if (ev.type !== 'delete') continue;
        if (ev.kv.key === watchKey || ev.kv.key === myKey || (watchKey === undefined && ahead.has(ev.kv.key))) {
          return { key: ev.kv.key, expired: ev.cause === 'lease-expired', revision: ev.kv.modRevision, first: ev.first };
        }
      }
      // The one delivery held only deletions behind us (a prefix watch): look again at once.
      return 'again';
    } catch (err) {
      this.log.debug({ err }, 'watch ended; re-checking');
    } finally {
      stop.release();
      void watch.cancel();
    }
    return undefined;
  }

  private async deleteKey(key: string, token: number | undefined, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<boolean> {
    const compare = token === undefined ? [] : [{ key, target: 'createRevision' as const, op: '=' as const, value: token }];
    const t = await this.txns.txn({ compare, success: [{ op: 'delete', key }], failure: [] }, opts);
    const r = t.results[0];
    return t.succeeded && r?.op === 'delete' && r.deleted > 0;
  }

  private async release(
    name: string,
    lease: number,
    token: number,
    mode: LockMode | undefined,
    opts: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<{ released: boolean }> {
    // With the mode the key is known: one compare-and-delete on the token. Without it, find the key.
    const key = mode === undefined ? (await this.entries(name, { ...opts, keysOnly: true })).entries.find((e) => e.lease === lease && e.createRevision === token)?.key : lockKey(this.opts.lockPrefix, name, mode, lease);
    if (key === undefined || !(await this.deleteKey(key, token, opts))) {
      throw notHolder(`lease ${lease} does not hold ${name} with token ${token} (expired, revoked or released already)`, { name, lease, token });
    }
    return { released: true };
  }

  private async cancel(name: string, lease: number, opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<{ deleted: boolean }> {
    const { entries } = await this.entries(name, { ...opts, keysOnly: true });
    let deleted = false;
    for (const e of entries.filter((x) => x.lease === lease)) deleted = (await this.deleteKey(e.key, e.createRevision, opts)) || deleted;
    return { deleted };
  }

  private async state(name: string, opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<LockStateResult> {
    const { entries, revision } = await this.entries(name, opts);
    const { holders, waiters } = splitHolders(entries);
    const withTtl = await Promise.all(
      holders.map(async (h) => {
        const remaining = await this.opts.store.leaseTimeToLive(h.lease, opts).then(
          (r) => r.remainingMs,
          () => null,
        );
        return { ...h, token: h.createRevision, leaseRemainingMs: remaining };
      }),
    );
    return { name, holders: withTtl, waiters, revision };
  }

  private dataKey(key: string): string {
    return `${this.opts.dataPrefix}/${key}`;
  }

  private async read(key: string, opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<ObjectReadResult> {
    const kv = await this.opts.store.get(this.dataKey(key), opts);
    return kv ? { key, value: unwrap(kv.value).v, version: kv.version } : { key, value: null, version: 0 };
  }

  /** Kubernetes' resourceVersion check: write only if the version read is still the current one. */
  private async cas(key: string, expectedVersion: number, value: string, opId: string | undefined, opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<CasResult> {
    const storeKey = this.dataKey(key);
    for (let attempt = 0; attempt < 2; attempt++) {
      const kv = await this.opts.store.get(storeKey, opts);
      const current = kv ? unwrap(kv.value) : undefined;
      const applied = current && appliedVersion(current, opId);
      if (applied !== undefined) return { key, version: applied };
      const version = kv?.version ?? 0;
      if (version !== expectedVersion) throw conflict(`${key} is at version ${version}, not ${expectedVersion}`, version);
      const newVersion = expectedVersion + 1;
      const t = await this.txns.txn(
        {
          compare: [
            { key: storeKey, target: 'version', op: '=', value: expectedVersion },
            { key: storeKey, target: 'modRevision', op: '=', value: kv?.modRevision ?? 0 },
          ],
          success: [{ op: 'put', key: storeKey, value: wrap(value, current, opId, newVersion) }],
          failure: [],
        },
        opts,
      );
      if (t.succeeded) return { key, version: newVersion };
      // Changed between the read and the txn: the next read says how (or that this cas applied).
    }
    const kv = await this.opts.store.get(storeKey, opts);
    throw conflict(`${key} changed concurrently`, kv?.version ?? 0);
  }
}

/** The lock keys of one name as contenders (keys of another shape are ignored). */
function toEntries(namePrefix: string, kvs: readonly { key: string; value: string; lease: number; createRevision: number }[]): LockEntry[] {
  const entries: LockEntry[] = [];
  for (const kv of kvs) {
    const parsed = parseLockKey(namePrefix, kv.key);
    if (!parsed) continue;
    const permits = kv.value === '' ? undefined : decodePermits(kv.value);
    entries.push({ key: kv.key, mode: parsed.mode, lease: kv.lease, createRevision: kv.createRevision, ...(permits === undefined ? {} : { permits }) });
  }
  return entries;
}

/**
 * Whether a contender in `mode` can be decided from the keys of its line alone: a key's path names
 * its mode and lease and its createRevision its place; only a semaphore contender needs a value
 * (its own key's permits).
 */
function keysDecide(mode: LockMode): boolean {
  return mode !== 'semaphore';
}

/** Modes whose holder must be first in line: whether it holds depends only on the keys ahead of it. */
function exclusive(mode: LockMode): boolean {
  return mode === 'mutex' || mode === 'write';
}

/**
 * A decision made on part of the line (the key just ahead and ours, `ahead` keys ahead in all):
 * with the real position. Waiting on the key just ahead is right whatever the position; only
 * next in line (position 1, where the part is the whole line) watches the whole name.
 */
function inLine(d: Decision, ahead: number | undefined): Decision {
  if (ahead === undefined || d.kind !== 'wait') return d;
  return { ...d, position: Math.max(d.position, ahead) };
}

/**
 * A signal that aborts with `parent` or after `ms`, whichever first, until `release()`. Made by hand
 * rather than with AbortSignal.any and AbortSignal.timeout: on Node 20 a composite signal that has a
 * listener and is never aborted stays reachable for good (its timeout source is held only weakly,
 * so it may be collected before it fires), and whatever listens on it with it — here a watch, one
 * per wait that ended with an event: a lock manager under contention grew by thousands of them.
 */
export function abortAfter(parent: AbortSignal, ms: number): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new SynodError('TIMEOUT', `no event within ${ms} ms`)), ms);
  return {
    signal: controller.signal,
    release() {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}
