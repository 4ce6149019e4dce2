import { SynodError } from '@synod/protocol';
import type { Clock } from '../src/clock.js';
import type { RequestFn, SubscribeFn } from '../src/client.js';

/** Lets every promise chain that can run, run. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A virtual clock. In `auto` mode a sleep moves time at once (retry loops run instantly); otherwise
 * sleeps wait for `advance`, which fires timers in time order and lets what they start run.
 */
export class FakeClock implements Clock {
  t = 0;
  readonly sleeps: number[] = [];
  private timers: { at: number; resolve: () => void }[] = [];

  constructor(private readonly auto = false) {}

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (this.auto) {
      this.t += Math.max(0, ms);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        resolve();
      };
      const timer = {
        at: this.t + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: { at: number; resolve: () => void } | undefined;
      for (const timer of this.timers) if (timer.at <= end && (!next || timer.at < next.at)) next = timer;
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = end;
    await settle();
  }
}

export interface Sent {
  subject: string;
  body: Record<string, unknown>;
  timeoutMs: number;
  requestId: string;
  at: number;
}

/**
 * Hands each request to `handler`; a handler may throw a SynodError, return a result, or return
 * `HANG` to let the attempt time out (the clock moves by the attempt's timeout).
 */
export const HANG = Symbol('hang');

export function fakeTransport(clock: FakeClock, handler: (s: Sent, n: number) => unknown) {
  const sent: Sent[] = [];
  const subs = new Map<string, (data: Uint8Array) => void>();
  const request: RequestFn = async (subject, body, opts) => {
    const s: Sent = { subject, body: JSON.parse(JSON.stringify(body)) as Record<string, unknown>, timeoutMs: opts.timeoutMs, requestId: opts.requestId, at: clock.now() };
    sent.push(s);
    const r = await handler(s, sent.length);
    if (r === HANG) {
      await clock.sleep(opts.timeoutMs);
      throw new SynodError('TIMEOUT', `no reply on ${subject} within ${opts.timeoutMs} ms`);
    }
    return r;
  };
  const subscribe: SubscribeFn = (subject, onMessage) => {
    subs.set(subject, onMessage);
    return { unsubscribe: () => subs.delete(subject) };
  };
  const publish = (subject: string, msg: unknown) => {
    subs.get(subject)?.(new TextEncoder().encode(typeof msg === 'string' ? msg : JSON.stringify(msg)));
  };
  let inboxes = 0;
  const createInbox = () => `_INBOX.test.${++inboxes}`;
  return { sent, subs, request, subscribe, publish, createInbox };
}

export function kv(key: string, value: string, modRevision: number, createRevision = modRevision) {
  return { key, value, createRevision, modRevision, version: 1, lease: 0 };
}
