import { randomBytes } from 'node:crypto';
import { SynodError, WatchCreated, WatchMessage, subjects, toSynodError, type WatchEvent } from '@synod/protocol';
import { z } from 'zod';
import type { Clock } from './clock.js';
import { type RetryPolicy, backoffMs, isRetried } from './retry.js';

export interface WatchOptions {
  /** The key, or with `prefix` the key prefix ('' with prefix: every key). */
  key: string;
  prefix?: boolean;
  /** Add the key's previous version to every event. */
  prevKv?: boolean;
  /**
   * First revision to deliver. Default (or 0): the revision after the current one, read
   * linearizably when the watch starts, so every change after `watch()` was called is delivered.
   */
  fromRevision?: number;
  /** Aborting ends the watch (the iterator then reports done). */
  signal?: AbortSignal;
  /**
   * Ask the store's leader to serve it (each life of the watch starts on whoever leads then): an
   * event comes as soon as its write commits, without waiting for a follower to hear of the commit.
   * For latency-critical waiters such as lock hand-offs; by default any replica serves a watch.
   */
  leader?: boolean;
  /**
   * With every event, report the key under this prefix with the lowest createRevision (`first` on
   * the event; null when there is none), read by the serving replica when it sent the event, so at
   * the event's revision or later: the head of a line of contenders, without a read of one's own.
   */
  firstOf?: string;
  /** Leave out put events: deletions only (etcd's NOPUT filter). */
  noPut?: boolean;
  /**
   * End after the first delivery of events (one or more, of one message): the replica forgets the
   * watch as it sends them, so ending costs no cancel round trip. The iterator yields those events,
   * then reports done. For a waiter that wakes once; combine with `noPut` to wake on a deletion.
   */
  once?: boolean;
}

/** What a watch needs from its client. */
export interface WatchHost {
  namespace: string;
  timeoutMs: number;
  clock: Clock;
  random: () => number;
  retry: RetryPolicy;
  subscribe: (subject: string, onMessage: (data: Uint8Array) => void) => { unsubscribe(): void };
  createInbox: () => string;
  /** A request with the client's retries within its deadline. */
  call<T>(subject: string, body: unknown, schema: z.ZodType<T>, what: string, opts: { signal?: AbortSignal }): Promise<T>;
  /** One attempt, no retry. */
  once<T>(subject: string, body: unknown, schema: z.ZodType<T>, what: string, timeoutMs: number): Promise<T>;
  /** The store's current revision (a linearizable read). */
  currentRevision(key: string, prefix: boolean | undefined, opts: { signal?: AbortSignal }): Promise<number>;
}

const RenewResult = z.object({ renewed: z.int(), missing: z.array(z.string()) });
const CancelResult = z.object({ cancelled: z.boolean() });
const dec = new TextDecoder();

/** One life of the watch on one replica, with its own inbox and watch id. */
interface Generation {
  readonly watchId: string;
  readonly inbox: string;
  sub: { unsubscribe(): void } | undefined;
  node?: string;
  renewMs?: number;
  /** Aborted when this generation ends (resume, close or failure). */
  readonly abort: AbortController;
  /** The replica forgot this life itself (a one-shot watch delivered): never cancel it. */
  forgotten?: boolean;
}

type Waiter = { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void };

/**
 * A watch as an async iterator. Each life on a replica subscribes to a fresh inbox first, then
 * asks `<ns>.kv.any` for a watch from the next revision it expects, and renews it every `renewMs`
 * on `<ns>.kv.watch.<node>`. When a renewal fails (no responders, timeout, or the replica no longer
 * knows the watch), a message is malformed or the NATS connection was re-established, it resumes
 * on another replica from the last delivered revision + 1; events below the next expected revision
 * are dropped, so nothing is delivered twice and nothing is skipped (a replica always publishes
 * whole revisions, in order). A watch the store ends (COMPACTED) throws from the iterator.
 */
export class StoreWatch implements AsyncIterableIterator<WatchEvent> {
  /** Resolves once the watch runs on a replica; rejects if it could not be started. */
  readonly ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (e: unknown) => void;
  private nextRev = 0;
  private readonly buffer: WatchEvent[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: SynodError | undefined;
  private failureDelivered = false;
  private closed = false;
  private established = false;
  private current: Generation | undefined;
  private generations = 0;
  private resumeCount = 0;
  private readonly id = randomBytes(8).toString('hex');
  private readonly stopController = new AbortController();
  private cancelling: Promise<void> | undefined;
  /** On the caller's signal while the watch lives; taken off when it ends, so a long-lived signal does not keep ended watches. */
  private readonly onAbort = (): void => void this.cancel();

  constructor(
    private readonly host: WatchHost,
    private readonly opts: WatchOptions,
    private readonly onEnd: (w: StoreWatch) => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
    if (opts.signal?.aborted) {
      void this.cancel();
      return;
    }
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.run();
  }

  /** The replica serving the watch now (undefined between lives). */
  get node(): string | undefined {
    return this.current?.node;
  }

  /** How many times the watch moved to a new life (another replica, or the same one again). */
  get resumes(): number {
    return this.resumeCount;
  }

  /** The next revision the watch will deliver (0 until the start revision is known). */
  get nextRevision(): number {
    return this.nextRev;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const ev = this.buffer.shift();
    if (ev) return Promise.resolve({ value: ev, done: false });
    if (this.failure && !this.failureDelivered) {
      this.failureDelivered = true;
      return Promise.reject(this.failure);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async return(): Promise<IteratorResult<WatchEvent>> {
    await this.cancel();
    return { value: undefined, done: true };
  }

  /** Ends the watch: cancels it on its replica, unsubscribes, and ends the iterator. */
  cancel(): Promise<void> {
    if (this.cancelling) return this.cancelling;
    const wasClosed = this.closed;
    this.close();
    this.buffer.length = 0;
    if (!this.established) this.readyReject(new Error('the watch was cancelled before it started'));
    const gen = this.current;
    this.cancelling = gen ? this.endGeneration(gen, true) : Promise.resolve();
    this.wake();
    if (!wasClosed) this.onEnd(this);
    return this.cancelling;
  }

  /** Moves the watch to a new life (from the next expected revision). */
  resume(reason: string): void {
    const gen = this.current;
    if (!gen || this.closed || gen.abort.signal.aborted) return;
    gen.abort.abort(new Error(`watch resumes: ${reason}`));
  }

  // ------------------------------------------------------------------ internals

  private async run(): Promise<void> {
    const { clock } = this.host;
    try {
      const from = this.opts.fromRevision ?? 0;
      this.nextRev = from > 0 ? from : (await this.host.currentRevision(this.opts.key, this.opts.prefix, { signal: this.stopController.signal })) + 1;
    } catch (err) {
      if (!this.closed) this.fail(toSynodError(err));
      return;
    }
    let failures = 0;
    while (!this.closed) {
      const gen = this.startGeneration();
      try {
        const filter: Record<string, unknown> = { key: this.opts.key };
        if (this.opts.prefix) filter.prefix = true;
        if (this.opts.prevKv) filter.prevKv = true;
        if (this.opts.noPut) filter.noPut = true;
        const body = {
          type: 'watch',
          watchId: gen.watchId,
          inbox: gen.inbox,
          filter,
          fromRevision: this.nextRev,
          ...(this.opts.firstOf === undefined ? {} : { firstOf: this.opts.firstOf }),
          ...(this.opts.once ? { once: true } : {}),
        };
        const subject = this.opts.leader ? subjects.kvLeader(this.host.namespace) : subjects.kvAny(this.host.namespace);
        const created = await this.host.call(subject, body, WatchCreated, 'watch', { signal: gen.abort.signal });
        if (created.watchId !== gen.watchId) throw new SynodError('BAD_GATEWAY', `watch ${gen.watchId} was answered for ${created.watchId}`, { retryable: false });
        gen.node = created.node;
        gen.renewMs = created.renewMs;
      } catch (err) {
        const resumed = gen.abort.signal.aborted;
        void this.endGeneration(gen, false);
        if (this.closed) return;
        if (resumed) continue;
        const e = toSynodError(err);
        // A first start that fails is reported; a resume keeps trying until the store answers.
        if (!this.established || !isRetried(e)) {
          this.fail(e);
          return;
        }
        failures++;
        await clock.sleep(backoffMs(failures, this.host.retry, this.host.random), this.stopController.signal);
        continue;
      }
      failures = 0;
      if (!this.established) {
        this.established = true;
        this.readyResolve();
      }
      await this.renewLoop(gen);
      // Not awaited: a dead replica would hold the resume up for the cancel's timeout.
      void this.endGeneration(gen, true);
      if (!this.closed) this.resumeCount++;
    }
  }

  private startGeneration(): Generation {
    this.generations++;
    const gen: Generation = {
      watchId: `w-${this.id}-${this.generations}`,
      inbox: this.host.createInbox(),
      sub: undefined,
      abort: new AbortController(),
    };
    this.current = gen;
    // Subscribed before the watch request leaves, so not even the backlog can be missed.
    gen.sub = this.host.subscribe(gen.inbox, (data) => this.onMessage(gen, data));
    return gen;
  }

  /** Ends a life; with `cancel`, tells its replica (best effort, short). */
  private async endGeneration(gen: Generation, cancel: boolean): Promise<void> {
    if (!gen.abort.signal.aborted) gen.abort.abort(new Error('watch life ended'));
    gen.sub?.unsubscribe();
    gen.sub = undefined;
    if (this.current === gen) this.current = undefined;
    const node = gen.node;
    if (!cancel || node === undefined || gen.forgotten) return;
    gen.node = undefined;
    try {
      await this.host.once(subjects.kvWatch(this.host.namespace, node), { type: 'watchCancel', watchId: gen.watchId }, CancelResult, 'watchCancel', Math.min(1000, this.host.timeoutMs));
    } catch {
      // The replica is gone or slow: it drops the watch when renewals stop.
    }
  }

  private async renewLoop(gen: Generation): Promise<void> {
    const { clock } = this.host;
    const renewMs = gen.renewMs ?? 1000;
    const node = gen.node as string;
    while (!gen.abort.signal.aborted) {
      await clock.sleep(renewMs, gen.abort.signal);
      if (gen.abort.signal.aborted) return;
      try {
        const r = await this.host.once(subjects.kvWatch(this.host.namespace, node), { type: 'watchRenew', watchIds: [gen.watchId] }, RenewResult, 'watchRenew', Math.min(renewMs, this.host.timeoutMs));
        if (r.missing.includes(gen.watchId)) {
          this.resume(`replica ${node} no longer knows the watch`);
          return;
        }
      } catch (err) {
        this.resume(`renewal on ${node} failed: ${toSynodError(err).code}`);
        return;
      }
    }
  }

  private onMessage(gen: Generation, data: Uint8Array): void {
    if (this.current !== gen || gen.abort.signal.aborted || this.closed) return;
    let parsed: ReturnType<typeof WatchMessage.safeParse>;
    try {
      parsed = WatchMessage.safeParse(JSON.parse(dec.decode(data)));
    } catch {
      this.resume('a watch message is not JSON');
      return;
    }
    if (!parsed.success) {
      // Events may have been in it: the next life replays from the next expected revision.
      this.resume('a watch message does not fit its schema');
      return;
    }
    const msg = parsed.data;
    if (msg.watchId !== gen.watchId) return;
    if (msg.type === 'ended') {
      const err = SynodError.fromBody(msg.error);
      if (isRetried(err)) this.resume(`the replica ended the watch: ${err.code}`);
      else this.fail(err);
      return;
    }
    // A replica publishes whole revisions in order: whatever is below the next expected revision
    // was delivered already (by an earlier life).
    const base = this.nextRev;
    let next = base;
    for (const ev of msg.events) {
      const rev = ev.kv.modRevision;
      if (rev < base) continue;
      this.buffer.push(ev);
      if (rev + 1 > next) next = rev + 1;
    }
    this.nextRev = next;
    if (this.opts.once) {
      // The replica forgot this life as it sent the message. Nothing new in it (all delivered by an
      // earlier life): another life watches on; else the watch is done, with no cancel to send.
      if (next === base) {
        gen.forgotten = true;
        this.resume('a one-shot life ended with nothing new');
        return;
      }
      this.finish();
      return;
    }
    this.wake();
  }

  /** A one-shot watch got its events: ends with them buffered, without telling the replica. */
  private finish(): void {
    const gen = this.current;
    this.close();
    // It ran on a replica (its events came), even if the answer to its start is still on the way.
    if (!this.established) {
      this.established = true;
      this.readyResolve();
    }
    if (gen) {
      // Nothing to cancel, now or when the life's loop winds down (its answer may still be on
      // its way: the events can overtake it).
      gen.forgotten = true;
      void this.endGeneration(gen, false);
    }
    this.wake();
    this.onEnd(this);
  }

  private fail(err: SynodError): void {
    if (this.closed) return;
    this.failure = err;
    this.close();
    if (!this.established) this.readyReject(err);
    const gen = this.current;
    if (gen) void this.endGeneration(gen, true);
    this.wake();
    this.onEnd(this);
  }

  /** No more lives: marks the watch closed, stops its loop and lets go of the caller's signal. */
  private close(): void {
    this.closed = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.stopController.abort();
  }

  private wake(): void {
    while (this.waiters.length > 0) {
      const ev = this.buffer.shift();
      if (ev) {
        this.waiters.shift()?.resolve({ value: ev, done: false });
        continue;
      }
      if (this.failure && !this.failureDelivered) {
        this.failureDelivered = true;
        this.waiters.shift()?.reject(this.failure);
        continue;
      }
      if (this.closed) {
        this.waiters.shift()?.resolve({ value: undefined, done: true });
        continue;
      }
      return;
    }
  }
}
