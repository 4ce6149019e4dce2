import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_OUTLIER, DEFAULT_SLOW_START } from '@synod/balancing';
import { SynodError, type ErrorBody, type WorkerAnnounce } from '@synod/protocol';
import { createMetricsRegistry, createRootLogger, LabelBound } from '@synod/service-kit';
import { Router, WorkerRegistry, type RouteTransport, type RouterOptions, type WorkerEntry } from '../src/index.js';

type Reply = { result: unknown } | { error: ErrorBody };
type Handler = (worker: string, timeoutMs: number) => Promise<Reply>;

/** A stand-in for the bus: each worker's endpoint answers through `handler`, envelopes as a worker sends them. */
function fakeTransport(handler: Handler): { transport: RouteTransport; calls: { worker: string; timeoutMs: number }[] } {
  const calls: { worker: string; timeoutMs: number }[] = [];
  const transport: RouteTransport = {
    async send(worker: WorkerEntry, attempt) {
      calls.push({ worker: worker.id, timeoutMs: attempt.timeoutMs });
      const reply = await handler(worker.id, attempt.timeoutMs);
      if ('error' in reply) throw SynodError.fromBody(reply.error);
      return new TextEncoder().encode(JSON.stringify(reply.result));
    },
    async ping() {},
  };
  return { transport, calls };
}

const ok = (worker: string): Promise<Reply> => Promise.resolve({ result: { worker } });
const failWith = (code: string): Promise<Reply> => Promise.resolve({ error: { code, message: code, retryable: true } });
const log = createRootLogger({ service: 'test', instance: 'router-test', level: 'silent' });
const text = (r: { ok: boolean; json?: Uint8Array }) => (r.ok && r.json ? new TextDecoder().decode(r.json) : undefined);

function setup(handler: Handler, over: Partial<RouterOptions> = {}, workers: Partial<WorkerAnnounce>[] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }]) {
  const registry = new WorkerRegistry(60_000);
  for (const w of workers) {
    registry.upsert(
      { type: 'announce', v: 1, id: 'x', service: 'svc', weight: 1, endpoints: ['echo'], heartbeatIntervalMs: 1000, load: { inFlight: 0, served: 0, errors: 0 }, ...w },
      Date.now(),
    );
  }
  const { transport, calls } = fakeTransport(handler);
  const router = new Router({
    transport,
    registry,
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
  const fund = (tokens: number) => {
    for (let i = 0; i < tokens * 5; i++) router['state']('svc').budget.deposit(Date.now());
  };
  return { router, registry, calls, fund };
}

const request = (over: Partial<Parameters<Router['route']>[0]> = {}) => ({
  service: 'svc',
  endpoint: 'echo',
  body: new TextEncoder().encode('{}'),
  requestId: 'r',
  timeoutMs: 2000,
  ...over,
});

const idempotentWorkers = (ids: string[]) => ids.map((id) => ({ id, idempotent: ['echo'] }));

describe('Router', () => {
  const timers: NodeJS.Timeout[] = [];
  afterEach(() => timers.splice(0).forEach(clearTimeout));
  /** Never answers; rejects with TIMEOUT at the attempt's budget, as the bus does. */
  const hang: Handler = (_w, timeoutMs) => new Promise((_, reject) => timers.push(setTimeout(() => reject(new SynodError('TIMEOUT', 'no reply')), timeoutMs)));

  it("hands back the worker's result as the JSON text it sent", async () => {
    const { router } = setup(ok);
    const r = await router.route(request());
    expect(r).toMatchObject({ ok: true, worker: 'a', attempts: 1 });
    expect(text(r as { ok: true; json: Uint8Array })).toBe('{"worker":"a"}');
  });

  it('retries OVERLOADED on a different worker, within the budget', async () => {
    const { router, calls } = setup((w) => (w === 'a' ? failWith('OVERLOADED') : ok(w)));
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
    const retry = { budget: { ratio: 1, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 3, attemptTimeoutMs: 30, idempotent: new Set<string>() };
    const plain = setup(hang, { retry });
    plain.fund(1);
    // Not idempotent: not retried, and not cut at the attempt timeout either (the whole deadline).
    expect(await plain.router.route(request({ timeoutMs: 100 }))).toMatchObject({ ok: false, attempts: 1 });
    expect(plain.calls[0]!.timeoutMs).toBeGreaterThan(30);
    const idem = setup(hang, { retry }, idempotentWorkers(['a', 'b', 'c']));
    idem.fund(3);
    const r = await idem.router.route(request());
    expect(r).toMatchObject({ ok: false, attempts: 3 });
    expect(new Set(idem.calls.map((c) => c.worker)).size).toBe(3);
    for (const c of idem.calls) expect(c.timeoutMs).toBeLessThanOrEqual(30);
  });

  it('drops a worker with no responders and tries another, outside the budget', async () => {
    const { router, registry } = setup((w) => (w === 'a' ? Promise.reject(new SynodError('NO_RESPONDERS', 'gone')) : ok(w)), {
      retry: { budget: { ratio: 0, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 1, attemptTimeoutMs: 0, idempotent: new Set() },
    });
    expect(await router.route(request())).toMatchObject({ ok: true, worker: 'b', attempts: 1 });
    expect(registry.workersOf('svc').map((w) => w.id)).toEqual(['b', 'c']);
  });

  it('holds each worker to its limit, queues up to the bound, and refuses the rest at once', async () => {
    const release: (() => void)[] = [];
    const { router } = setup((w) => new Promise((resolve) => release.push(() => resolve({ result: { worker: w } }))), { maxPending: 2 }, [
      { id: 'a', maxConcurrency: 1 },
      { id: 'b', maxConcurrency: 1 },
    ]);
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
    const metrics = createMetricsRegistry({ app: 'test' });
    const { router } = setup((w) => (w === 'a' ? failWith('INTERNAL') : ok(w)), {
      outlier: { ...DEFAULT_OUTLIER, consecutiveFailures: 2, baseEjectionMs: 60_000 },
      metrics: { registry: metrics, bound: new LabelBound(metrics, 100), prefix: 'synod_gateway' },
    });
    const ejected = async () => (await metrics.getSingleMetricAsString('synod_gateway_workers_ejected')).split('\n').filter((l) => l.startsWith('synod_gateway_workers_ejected{'));
    expect(await ejected()).toEqual(['synod_gateway_workers_ejected{service="svc",app="test"} 0']);
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) seen.push((await router.route(request())).worker!);
    expect(seen.filter((w) => w === 'a')).toHaveLength(2);
    expect(seen.slice(6).includes('a')).toBe(false);
    expect(await ejected()).toEqual(['synod_gateway_workers_ejected{service="svc",app="test"} 1']);
    expect(router.ejectedWorkers('svc')).toBe(1);
    expect(router.ejectedWorkers('nobody')).toBe(0);
  });

  it('counts a request that timed out on a worker as a missed liveness check', async () => {
    const { router, registry } = setup((w) => (w === 'a' ? hang(w, 20) : ok(w)), {
      outlier: { ...DEFAULT_OUTLIER, consecutiveFailures: 0, consecutivePingFailures: 2, baseEjectionMs: 60_000 },
    });
    const a = registry.get('a')!;
    router.recordPing(a, false);
    expect(router.describe(a, Date.now()).ejected).toBe(false);
    // One timed-out request is the second miss in a row.
    expect(await router.route(request({ timeoutMs: 20 }))).toMatchObject({ ok: false, worker: 'a', error: { code: 'TIMEOUT' } });
    expect(router.describe(a, Date.now()).ejected).toBe(true);
    // A client that asked for a shorter deadline is not the worker's fault.
    const other = setup((w) => (w === 'a' ? hang(w, 20) : ok(w)), { outlier: { ...DEFAULT_OUTLIER, consecutiveFailures: 0, consecutivePingFailures: 1 } });
    await other.router.route(request({ timeoutMs: 20, clientDeadline: true }));
    expect(other.router.describe(other.registry.get('a')!, Date.now()).ejected).toBe(false);
  });

  it("gives up an ejected worker's idempotent requests in flight and retries them elsewhere; others wait", async () => {
    const handler: Handler = (w) => (w === 'a' ? new Promise(() => undefined) : ok(w));
    const idem = setup(handler, { outlier: { ...DEFAULT_OUTLIER, consecutivePingFailures: 1 } }, idempotentWorkers(['a', 'b', 'c']));
    idem.fund(2);
    const stuck = idem.router.route(request({ timeoutMs: 60_000 }));
    await new Promise((r) => setTimeout(r, 5));
    expect(idem.registry.get('a')!.inFlight).toBe(1);
    expect(idem.registry.get('a')!.inFlightSince).toBeDefined();
    idem.router.recordPing(idem.registry.get('a')!, false);
    expect(await stuck).toMatchObject({ ok: true, worker: 'b', attempts: 2 });
    expect(idem.registry.get('a')!).toMatchObject({ inFlight: 0, inFlightSince: undefined, errors: 1 });

    const plain = setup(handler, { outlier: { ...DEFAULT_OUTLIER, consecutivePingFailures: 1 } });
    plain.fund(2);
    let settled = false;
    void plain.router.route(request({ timeoutMs: 60_000 })).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 5));
    plain.router.recordPing(plain.registry.get('a')!, false);
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    expect(plain.registry.get('a')!.inFlight).toBe(1);
  });

  it('hedging (opt-in): an idempotent request still out after the worker p99 goes to a second worker, the first success wins', async () => {
    let frozen = false;
    const handler: Handler = (w) => (frozen && w === 'a' ? new Promise(() => undefined) : ok(w));
    const metrics = createMetricsRegistry({ app: 'test' });
    const hedged = setup(
      handler,
      { hedge: { enabled: true, quantile: 0.99, window: { windowMs: 60_000, minSamples: 5 } }, metrics: { registry: metrics, bound: new LabelBound(metrics, 100), prefix: 'synod_gateway' } },
      idempotentWorkers(['a', 'b', 'c']),
    );
    hedged.fund(5);
    for (let i = 0; i < 30; i++) expect((await hedged.router.route(request())).ok).toBe(true);
    frozen = true;
    // Round-robin puts the next one on a.
    const t0 = Date.now();
    const r = await hedged.router.route(request({ timeoutMs: 30_000 }));
    expect(r).toMatchObject({ ok: true, worker: 'b', attempts: 2 });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await metrics.getSingleMetricAsString('synod_gateway_hedges_total')).toMatch(/^synod_gateway_hedges_total\{[^}]*service="svc"[^}]*\} 1$/m);

    // Off by default: the same request waits on a.
    frozen = false;
    const plain = setup(handler, {}, idempotentWorkers(['a', 'b', 'c']));
    for (let i = 0; i < 30; i++) await plain.router.route(request());
    frozen = true;
    let settled = false;
    void plain.router.route(request({ timeoutMs: 30_000 })).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
  });

  it("reports the p50 and p99 of a service's answered attempts over the last window, failures left out", async () => {
    let clock = 1_000_000;
    let served = 0;
    const { router } = setup(
      async () => {
        served++;
        clock += served <= 98 ? 10 : 200;
        return served === 101 ? failWith('INTERNAL') : ok('a');
      },
      { now: () => clock },
    );
    expect(router.answeredLatency('svc', clock)).toBeUndefined();
    for (let i = 0; i < 101; i++) await router.route(request());
    const latency = router.answeredLatency('svc', clock)!;
    // Buckets grow by 5%: each quantile is known within 5% above.
    expect(latency.p50Ms).toBeGreaterThanOrEqual(10);
    expect(latency.p50Ms).toBeLessThanOrEqual(10.5);
    expect(latency.p99Ms).toBeGreaterThanOrEqual(200);
    expect(latency.p99Ms).toBeLessThanOrEqual(210);
    // Two windows later the samples have slid out.
    expect(router.answeredLatency('svc', clock + 25_000)).toBeUndefined();
  });

  it('keeps a runtime strategy only for a service with a live worker or a configured one', () => {
    const { router, registry } = setup(ok, { overrides: new Map([['planned', 'p2c-ewma']]) });
    expect(router.setStrategy('svc', 'weighted')).toBe(true);
    expect(router.strategyOf('svc')).toBe('weighted');
    for (const service of ['ghost', '__proto__', 'constructor']) {
      expect(router.setStrategy(service, 'random')).toBe(false);
      expect(router.setStrategy(service, undefined)).toBe(false);
      expect(router.strategyOf(service)).toBe('round-robin');
      expect(router.hasRuntimeStrategy(service)).toBe(false);
    }
    expect(router.setStrategy('planned', 'random')).toBe(true);
    expect(router.strategyOf('planned')).toBe('random');
    for (const id of ['a', 'b', 'c']) registry.remove(id);
    expect(router.setStrategy('svc', 'random')).toBe(false);
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

describe('Router bookkeeping', () => {
  it('counts a worker in flight exactly once per attempt, also when the attempt itself gets it ejected', async () => {
    const { router, registry } = setup((w) => (w === 'a' ? failWith('INTERNAL') : ok(w)), { outlier: { ...DEFAULT_OUTLIER, consecutiveFailures: 1, baseEjectionMs: 60_000 } }, idempotentWorkers(['a', 'b', 'c']));
    // The failure that ejects `a` is answered as it is (INTERNAL is not retried), not turned into a retried timeout.
    expect(await router.route(request())).toMatchObject({ ok: false, worker: 'a', error: { code: 'INTERNAL' }, attempts: 1 });
    expect(router.describe(registry.get('a')!, Date.now()).ejected).toBe(true);
    for (const id of ['a', 'b', 'c']) expect(registry.get(id)!).toMatchObject({ inFlight: 0, inFlightSince: undefined });
  });
});
