import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, closedLoop, countBy, post, Stack, TEST_ADMIN_TOKEN, waitForService, waitUntil, workers } from './stack.js';

/**
 * The latency-aware and sticky strategies, slow start, per-service strategies and runtime weights,
 * through real processes. Each test uses its own service name, so they share one NATS server.
 */
describe('balancing strategies through the gateway', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('p2c-ewma: a worker 50x slower than four others gets under a quarter of its round-robin share', async () => {
    const service = 'degraded';
    // Service times well above the HTTP and bus overhead of a loaded 2-core machine, so the 50x
    // ratio is what the gateway measures too.
    const FAST_MS = 10;
    const SLOW_MS = 50 * FAST_MS;
    const ids = ['d1', 'd2', 'd3', 'd4', 'slow'];
    await Promise.all(
      ids.map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: service, WORKER_EXTRA_LATENCY_MS: String(id === 'slow' ? SLOW_MS : FAST_MS) })),
    );
    const gw = await stack.gateway({ LB_STRATEGY: 'p2c-ewma' });
    await waitForService(gw.url, service, ids);
    const send = () => post(gw.url, `/v1/services/${service}/echo`, { message: 'x' });
    // Warm-up: every worker gets measured.
    await closedLoop(8, 100, send);
    const total = 600;
    const replies = await closedLoop(8, total, send);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const counts = countBy(replies, (r) => r.worker!);
    console.log('p2c-ewma shares with one slow worker', counts);
    const roundRobinShare = total / ids.length;
    expect(counts.slow ?? 0).toBeLessThan(roundRobinShare / 4);
    // The gateway's view shows the slow worker's latency estimate above the others'.
    const view = await workers(gw.url);
    const ewma = Object.fromEntries(view.filter((w) => w.service === service).map((w) => [w.id, w.ewmaMs ?? 0]));
    for (const id of ids.slice(0, 4)) expect(ewma.slow).toBeGreaterThan(ewma[id]!);
    expect(view.find((w) => w.id === 'slow')?.strategy).toBe('p2c-ewma');
  });

  it('consistent-hash: a key sticks to its worker; a fifth worker takes about 1/5 of the keys, and only those move', async () => {
    const service = 'sticky';
    const first = ['h1', 'h2', 'h3', 'h4'];
    await Promise.all(first.map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: service })));
    const gw = await stack.gateway({ LB_STRATEGY: 'consistent-hash', LB_HASH_BODY_FIELD: 'message' });
    await waitForService(gw.url, service, first);
    const KEYS = 200;
    const route = async (key: number, via: 'header' | 'body'): Promise<string> => {
      const r =
        via === 'header'
          ? await post(gw.url, `/v1/services/${service}/echo`, { message: 'x' }, { 'x-synod-key': `user-${key}` })
          : await post(gw.url, `/v1/services/${service}/echo`, { message: `user-${key}` });
      expect(r.status).toBe(200);
      return r.worker!;
    };
    const before = await closedLoop(8, KEYS, (i) => route(i, 'header'));
    // Sticky: the same keys again, by header and by body field, land where they did.
    expect(await closedLoop(8, KEYS, (i) => route(i, 'header'))).toEqual(before);
    expect(await closedLoop(8, KEYS, (i) => route(i, 'body'))).toEqual(before);
    for (const id of first) expect(before.filter((w) => w === id).length).toBeGreaterThan(KEYS / 4 / 3);

    await stack.worker({ WORKER_ID: 'h5', WORKER_SERVICE: service });
    await waitForService(gw.url, service, [...first, 'h5']);
    const after = await closedLoop(8, KEYS, (i) => route(i, 'header'));
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      if (after[i] !== before[i]) {
        moved++;
        expect(after[i]).toBe('h5');
      }
    }
    // 1/5 of 200 = 40 expected; binomial sd ≈ 5.7, so 15..70 holds by a wide margin.
    expect(moved).toBeGreaterThan(15);
    expect(moved).toBeLessThan(70);
  });

  it('per-service strategy: LB_STRATEGY_OVERRIDES, then the admin route, then a runtime weight', async () => {
    await Promise.all([
      stack.worker({ WORKER_ID: 'o1', WORKER_SERVICE: 'ovw', WORKER_WEIGHT: '3' }),
      stack.worker({ WORKER_ID: 'o2', WORKER_SERVICE: 'ovw', WORKER_WEIGHT: '1' }),
      stack.worker({ WORKER_ID: 'r1', WORKER_SERVICE: 'ovr', WORKER_WEIGHT: '3' }),
      stack.worker({ WORKER_ID: 'r2', WORKER_SERVICE: 'ovr', WORKER_WEIGHT: '1' }),
    ]);
    const gw = await stack.gateway({ LB_STRATEGY: 'round-robin', LB_STRATEGY_OVERRIDES: 'ovw=weighted', ADMIN_TOKEN: TEST_ADMIN_TOKEN });
    await waitUntil(async () => (await workers(gw.url)).filter((w) => ['o1', 'o2', 'r1', 'r2'].includes(w.id)).length === 4, 10_000);
    const shares = async (service: string, n: number): Promise<Record<string, number>> => {
      const seq: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await post(gw.url, `/v1/services/${service}/echo`, { message: 'x' });
        expect(r.status).toBe(200);
        seq.push(r.worker!);
      }
      return countBy(seq, (x) => x);
    };
    expect(await shares('ovw', 80)).toEqual({ o1: 60, o2: 20 });
    expect(await shares('ovr', 80)).toEqual({ r1: 40, r2: 40 });
    const services = (await (await fetch(`${gw.url}/v1/services`)).json()) as { services: { service: string; strategy: string }[] };
    expect(Object.fromEntries(services.services.map((s) => [s.service, s.strategy]))).toMatchObject({ ovw: 'weighted', ovr: 'round-robin' });

    expect(await admin(gw, '/v1/admin/services/ovr/strategy', { strategy: 'weighted' })).toMatchObject({ status: 200, body: { strategy: 'weighted', overridden: true } });
    expect(await shares('ovr', 80)).toEqual({ r1: 60, r2: 20 });
    expect((await admin(gw, '/v1/admin/services/ovr/strategy', { strategy: 'fastest' })).status).toBe(400);

    // Runtime weight: 3:1 becomes 1:1, and back once cleared; heartbeats do not undo it meanwhile.
    expect(await admin(gw, '/v1/admin/workers/r1/weight', { weight: 1 })).toMatchObject({ status: 200, body: { id: 'r1', weight: 1, reportedWeight: 3 } });
    expect(await shares('ovr', 40)).toEqual({ r1: 20, r2: 20 });
    expect((await workers(gw.url)).find((w) => w.id === 'r1')).toMatchObject({ weight: 1, weightOverride: 1, reportedWeight: 3 });
    expect((await admin(gw, '/v1/admin/workers/r1/weight', null, 'DELETE')).body).toMatchObject({ weight: 3 });
    expect(await shares('ovr', 40)).toEqual({ r1: 30, r2: 10 });
    expect((await admin(gw, '/v1/admin/workers/nobody/weight', { weight: 1 })).status).toBe(404);
    expect(await admin(gw, '/v1/admin/services/ovr/strategy', null, 'DELETE')).toMatchObject({ body: { strategy: 'round-robin', overridden: false } });
  });

  it('slow start: a worker joining a running service ramps up, then takes its full exact share', async () => {
    const service = 'ramp';
    const WINDOW_MS = 6000;
    await Promise.all(['s1', 's2'].map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: service })));
    const gw = await stack.gateway({ LB_STRATEGY: 'weighted', SLOW_START_MS: String(WINDOW_MS), SLOW_START_MIN_PERCENT: '10' });
    await waitForService(gw.url, service, ['s1', 's2']);
    // Past the gateway's discovery grace, so the next worker counts as new.
    await new Promise((r) => setTimeout(r, 1200));
    await stack.worker({ WORKER_ID: 's3', WORKER_SERVICE: service });
    await waitForService(gw.url, service, ['s1', 's2', 's3']);
    const send = () => post(gw.url, `/v1/services/${service}/echo`, { message: 'x' });
    const early = [];
    for (let i = 0; i < 120; i++) early.push(await send());
    const factor = (await workers(gw.url)).find((w) => w.id === 's3')!.slowStartFactor!;
    const newcomer = early.filter((r) => r.worker === 's3').length;
    expect(newcomer).toBeGreaterThan(0);
    // The factor only grew during the phase: its share was at most q/(2+q) per cycle, q the factor
    // stepped up to tenths, plus a cycle's worth for restarts at each step.
    const q = Math.min(1, Math.ceil(factor * 10) / 10);
    if (q < 1) expect(newcomer).toBeLessThanOrEqual(Math.ceil((120 * q) / (2 + q)) + 10);
    await waitUntil(async () => (await workers(gw.url)).find((w) => w.id === 's3')!.slowStartFactor === 1, WINDOW_MS + 2000, 100);
    const later = [];
    for (let i = 0; i < 90; i++) later.push(await send());
    expect(countBy(later, (r) => r.worker!)).toEqual({ s1: 30, s2: 30, s3: 30 });
  });
});
