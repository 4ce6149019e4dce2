import { errors } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_OUTLIER, DEFAULT_SLOW_START } from '@synod/balancing';
import { HEADERS, type WorkerAnnounce } from '@synod/protocol';
import { createRootLogger, type NatsConnection } from '@synod/service-kit';
import { WorkerRegistry } from '../src/registry.js';
import { Router, type RouterOptions } from '../src/router.js';

type Handler = (worker: string, timeoutMs: number) => Promise<unknown>;

/** A stand-in for the NATS connection: each worker's endpoint answers through `handler`. */
function fakeNats(handler: Handler): { nc: NatsConnection; calls: { worker: string; timeoutHeader: string | undefined }[] } {
  const calls: { worker: string; timeoutHeader: string | undefined }[] = [];
  const nc = {
    request: async (subject: string, _data: Uint8Array, opts: { timeout: number; headers?: { get(k: string): string } }) => {
      const worker = subject.split('.')[3]!;
      calls.push({ worker, timeoutHeader: opts.headers?.get(HEADERS.timeoutMs) });
      const reply = await handler(worker, opts.timeout);
      return { data: new TextEncoder().encode(JSON.stringify(reply)) };
    },
  } as unknown as NatsConnection;
  return { nc, calls };
}

const ok = (worker: string) => Promise.resolve({ result: { worker } });
const failWith = (code: string) => Promise.resolve({ error: { code, message: code, retryable: true } });
const log = createRootLogger({ service: 'test', instance: 'router-test', level: 'silent' });

function setup(handler: Handler, over: Partial<RouterOptions> = {}, workers: Partial<WorkerAnnounce>[] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }]) {
  const registry = new WorkerRegistry(60_000);
  for (const w of workers) {
    registry.upsert(
      {
        type: 'announce',
        v: 1,
        id: 'x',
        service: 'svc',
        weight: 1,
        endpoints: ['echo'],
        heartbeatIntervalMs: 1000,
        load: { inFlight: 0, served: 0, errors: 0 },
        ...w,
      },
      Date.now(),
    );
  }
  const { nc, calls } = fakeNats(handler);
  const router = new Router({
    nc,
    registry,
    namespace: 'ns',
    strategy: 'round-robin',
    random: () => 0.5,
    log,
    ewma: { decayMs: 10_000, failurePenaltyMs: 500 },
    slowStart: DEFAULT_SLOW_START,
    outlier: DEFAULT_OUTLIER,
    retry: { budget: { ratio: 0.2, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 3, attemptTimeoutMs: 0, idempotent: new Set() },
    defaultMaxConcurrency: 0,
    maxPending: 10,
    ...over,
  });
  return { router, registry, calls };
}

const request = (over: Partial<Parameters<Router['route']>[0]> = {}) => ({
  service: 'svc',
  endpoint: 'echo',
  body: new TextEncoder().encode('{}'),
  requestId: 'r',
  timeoutMs: 2000,
  ...over,
});

describe('Router', () => {
  const timers: NodeJS.Timeout[] = [];
  afterEach(() => timers.forEach(clearTimeout));

  it('retries OVERLOADED on a different worker, within the budget', async () => {
    const { router, calls } = setup((w) => (w === 'a' ? failWith('OVERLOADED') : ok(w)), {
      retry: { budget: { ratio: 0.2, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 3, attemptTimeoutMs: 0, idempotent: new Set() },
    });
    // No token yet: the first OVERLOADED is answered as is.
    const first = await router.route(request());
    expect(first).toMatchObject({ ok: false, worker: 'a' });
    // Four more requests (b, c, a-overloaded-again..., ...) earn one token.
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await router.route(request()));
    const retried = results.filter((r) => r.ok && r.attempts === 2);
    expect(retried.length).toBeGreaterThanOrEqual(1);
    for (const r of retried) expect(r.worker).not.toBe('a');
    expect(calls.length).toBe(9 + retried.length);
  });

  it('never retries INTERNAL or BAD_REQUEST', async () => {
    const { router, calls } = setup((w) => (w === 'a' ? failWith('INTERNAL') : failWith('BAD_REQUEST')), {
      retry: { budget: { ratio: 1, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 3, attemptTimeoutMs: 0, idempotent: new Set() },
    });
    for (let i = 0; i < 4; i++) expect((await router.route(request())).attempts).toBe(1);
    expect(calls).toHaveLength(4);
  });

  it('retries a timeout only on idempotent endpoints, and sends each attempt its own deadline', async () => {
    const hang: Handler = (_w, timeoutMs) => new Promise((_, reject) => timers.push(setTimeout(() => reject(new errors.TimeoutError()), timeoutMs)));
    const retry = { budget: { ratio: 1, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 3, attemptTimeoutMs: 30, idempotent: new Set<string>() };
    const plain = setup(hang, { retry });
    plain.router['state']('svc').budget.deposit(Date.now());
    // Not idempotent: not retried, and not cut at the attempt timeout either (the whole deadline).
    expect(await plain.router.route(request({ timeoutMs: 100 }))).toMatchObject({ ok: false, attempts: 1 });
    expect(Number(plain.calls[0]!.timeoutHeader)).toBeGreaterThan(30);
    const idem = setup(hang, { retry }, [{ id: 'a', idempotent: ['echo'] }, { id: 'b', idempotent: ['echo'] }, { id: 'c', idempotent: ['echo'] }]);
    for (let i = 0; i < 3; i++) idem.router['state']('svc').budget.deposit(Date.now());
    const r = await idem.router.route(request());
    expect(r).toMatchObject({ ok: false, attempts: 3 });
    expect(new Set(idem.calls.map((c) => c.worker)).size).toBe(3);
    for (const c of idem.calls) expect(Number(c.timeoutHeader)).toBeLessThanOrEqual(30);
  });

  it('drops a worker with no responders and tries another, outside the budget', async () => {
    const { router, registry } = setup((w) => (w === 'a' ? Promise.reject(new errors.NoRespondersError('x')) : ok(w)), {
      retry: { budget: { ratio: 0, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 1, attemptTimeoutMs: 0, idempotent: new Set() },
    });
    expect(await router.route(request())).toMatchObject({ ok: true, worker: 'b', attempts: 1 });
    expect(registry.workersOf('svc').map((w) => w.id)).toEqual(['b', 'c']);
  });

  it('holds each worker to its limit, queues up to the bound, and refuses the rest at once', async () => {
    const release: (() => void)[] = [];
    const { router } = setup(
      (w) =>
        new Promise((resolve) => {
          release.push(() => resolve({ result: { worker: w } }));
        }),
      { maxPending: 2 },
      [
        { id: 'a', maxConcurrency: 1 },
        { id: 'b', maxConcurrency: 1 },
      ],
    );
    const all = Array.from({ length: 6 }, () => router.route(request()));
    // Two in flight, two waiting, two refused immediately.
    const refused = await Promise.all(all.slice(4));
    for (const r of refused) expect(r).toMatchObject({ ok: false, attempts: 0, error: { code: 'OVERLOADED' } });
    expect(router.pending).toBe(2);
    expect(release).toHaveLength(2);
    release.splice(0).forEach((f) => f());
    await new Promise((r) => setTimeout(r, 10));
    expect(router.pending).toBe(0);
    release.splice(0).forEach((f) => f());
    const served = await Promise.all(all.slice(0, 4));
    expect(served.every((r) => r.ok)).toBe(true);
    expect(router.pendingPeak).toBe(2);
    expect(router.inFlightPeak('a')).toBe(1);
    expect(router.inFlightPeak('b')).toBe(1);
  });

  it('ejects a worker after consecutive failures and balances over the rest until it returns', async () => {
    const { router } = setup((w) => (w === 'a' ? failWith('INTERNAL') : ok(w)), {
      outlier: { ...DEFAULT_OUTLIER, consecutiveFailures: 2, baseEjectionMs: 60_000 },
    });
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) seen.push((await router.route(request())).worker!);
    expect(seen.filter((w) => w === 'a')).toHaveLength(2);
    expect(seen.slice(6).includes('a')).toBe(false);
  });

  it('answers OVERLOADED at once while shedding, and NO_WORKERS when the service is empty', async () => {
    const shed = setup(ok, { shedding: () => true });
    expect(await shed.router.route(request())).toMatchObject({ ok: false, attempts: 0, error: { code: 'OVERLOADED' } });
    expect(shed.calls).toHaveLength(0);
    const empty = setup(ok, {}, [{ id: 'a' }]);
    empty.registry.remove('a');
    expect(await empty.router.route(request())).toMatchObject({ ok: false, error: { code: 'NO_WORKERS' } });
  });
});
