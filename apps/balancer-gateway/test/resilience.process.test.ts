import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@synod/service-kit';
import { GATEWAY_ENV } from '../src/config.js';
import { closedLoop, countBy, metricSum, metrics, post, Stack, waitForService, waitUntil, workers, type Reply } from './stack.js';
import { metricSamples } from '@synod/testkit';

/**
 * Failure handling through real processes: outlier ejection and return (passive and by active
 * pings), a worker killed under load with retries, overload protection (per-worker limits, the
 * bounded queue, event-loop lag) and the retry budget. Each test uses its own service name.
 */
describe('failure handling in the gateway', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const errorCode = (r: Reply): string | undefined => (r.body as { error?: { code?: string } }).error?.code;

  it('a failing worker is ejected after N consecutive failures, returns after the ejection time, and is ejected longer the next time', async () => {
    const service = 'eject';
    const FAILURES = 3;
    const BASE_MS = 1500;
    await Promise.all([
      stack.worker({ WORKER_ID: 'ok1', WORKER_SERVICE: service }),
      stack.worker({ WORKER_ID: 'ok2', WORKER_SERVICE: service }),
      stack.worker({ WORKER_ID: 'bad', WORKER_SERVICE: service, WORKER_FAIL_RATE: '1' }),
    ]);
    const gw = await stack.gateway({
      LB_STRATEGY: 'round-robin',
      OUTLIER_CONSECUTIVE_FAILURES: String(FAILURES),
      OUTLIER_BASE_EJECTION_MS: String(BASE_MS),
      HEALTH_CHECK_INTERVAL_MS: '0',
    });
    await waitForService(gw.url, service, ['ok1', 'ok2', 'bad']);
    const send = () => post(gw.url, `/v1/services/${service}/echo`, { message: 'x' });
    // Round-robin: every third request reaches `bad` until it is ejected after FAILURES of them.
    const first: Reply[] = [];
    // The ejection happens inside the gateway between the last failing request's send and its answer:
    // its send time is a lower bound of the ejection's start, the answer's arrival an upper bound.
    let lastBadSentAt = 0;
    for (let i = 0; i < 3 * FAILURES; i++) {
      const sentAt = Date.now();
      const r = await send();
      if (r.worker === 'bad') lastBadSentAt = sentAt;
      first.push(r);
    }
    expect(first.filter((r) => r.worker === 'bad').map((r) => [r.status, errorCode(r)])).toEqual(Array(FAILURES).fill([500, 'INTERNAL']));
    const ejectedAt = Date.now();
    const row = (await workers(gw.url)).find((w) => w.id === 'bad')!;
    expect(row).toMatchObject({ ejected: true, ejections: 1 });
    // What SynodWorkersEjected alerts on: one worker of the service held out, labelled with the routed service.
    expect(metricSamples(await metrics(gw), 'synod_gateway_workers_ejected')).toEqual([{ labels: { service, app: 'balancer-gateway' }, value: 1 }]);
    const line = await gw.app.waitForLine((l) => l.msg === 'worker ejected' && l.worker === 'bad', 1000);
    expect(line.reason).toBe('consecutive-failures');

    // While ejected: no request reaches it.
    const during: Reply[] = [];
    while (Date.now() - ejectedAt < BASE_MS / 2) during.push(await send());
    expect(during.every((r) => r.status === 200 && r.worker !== 'bad')).toBe(true);

    // After the ejection time it takes traffic again (and, still failing, is ejected for twice as long).
    await waitUntil(async () => (await workers(gw.url)).find((w) => w.id === 'bad')?.ejected === false, BASE_MS + 2000, 50);
    expect(Date.now() - lastBadSentAt).toBeGreaterThanOrEqual(BASE_MS);
    expect(metricSum(await metrics(gw), 'synod_gateway_workers_ejected', { service })).toBe(0);
    const second: Reply[] = [];
    for (let i = 0; i < 3 * FAILURES; i++) second.push(await send());
    expect(second.filter((r) => r.worker === 'bad').length).toBe(FAILURES);
    const again = (await workers(gw.url)).find((w) => w.id === 'bad')!;
    expect(again).toMatchObject({ ejected: true, ejections: 2 });
    expect(Date.parse(again.ejectedUntil!) - Date.now()).toBeGreaterThan(BASE_MS);
  });

  it('a frozen worker (SIGSTOP) under steady load is ejected within HEALTH_CHECK_INTERVAL_MS × HEALTH_CHECK_FAILURES + HEALTH_CHECK_TIMEOUT_MS with the defaults, gets no request after, and its requests in flight go elsewhere', async () => {
    const service = 'frozen';
    // The gateway runs with its defaults; the bound comes from them.
    const defaults = parseConfig(GATEWAY_ENV, {});
    if (!defaults.ok) throw new Error('the gateway defaults do not parse');
    const { HEALTH_CHECK_INTERVAL_MS, HEALTH_CHECK_FAILURES, HEALTH_CHECK_TIMEOUT_MS, WORKER_EXPIRY_MS } = defaults.config;
    const boundMs = HEALTH_CHECK_INTERVAL_MS * HEALTH_CHECK_FAILURES + HEALTH_CHECK_TIMEOUT_MS;
    expect(boundMs).toBeLessThan(WORKER_EXPIRY_MS);
    /** Slack for a busy 2-core machine to run the ping timers and log the line. */
    const SCHEDULING_SLACK_MS = 500;
    // Frequent heartbeats: the frozen worker stays registered (and so routable, but for the
    // ejection) until about WORKER_EXPIRY_MS after it froze, well past the bound.
    const heartbeat = { HEARTBEAT_INTERVAL_MS: '200' };
    const [, , frozen] = await Promise.all([
      stack.worker({ WORKER_ID: 'f1', WORKER_SERVICE: service, ...heartbeat }),
      stack.worker({ WORKER_ID: 'f2', WORKER_SERVICE: service, ...heartbeat }),
      stack.worker({ WORKER_ID: 'f3', WORKER_SERVICE: service, ...heartbeat }),
    ]);
    const gw = await stack.gateway({});
    await waitForService(gw.url, service, ['f1', 'f2', 'f3']);
    expect(gw.app.lines.some((l) => l.msg?.toString().includes('frozen worker'))).toBe(false);
    const sentTo = async (id: string) => {
      const w = (await workers(gw.url)).find((x) => x.id === id);
      return w === undefined ? undefined : w.inFlight + w.served + w.errors;
    };

    // Steady load: 6 closed-loop clients until told to stop.
    let running = true;
    const replies: { at: number; reply: Reply }[] = [];
    const clients = Promise.all(
      Array.from({ length: 6 }, async () => {
        while (running) {
          const at = Date.now();
          replies.push({ at, reply: await post(gw.url, `/v1/services/${service}/echo`, { message: 'x' }) });
        }
      }),
    );
    await waitUntil(() => replies.length >= 60, 20_000, 10);
    const frozeAt = Date.now();
    frozen.app.signal('SIGSTOP');
    try {
      const line = await gw.app.waitForLine((l) => l.msg === 'worker ejected' && l.worker === 'f3', boundMs + 5000);
      const ejectedAt = Number(line.time);
      expect(line.reason).toBe('active-check');
      expect(ejectedAt - frozeAt).toBeLessThanOrEqual(boundMs + SCHEDULING_SLACK_MS);
      // Ejected, not expired: it is still in the registry, and takes nothing more.
      const before = await sentTo('f3');
      expect(before).toBeDefined();
      const ejected = (await workers(gw.url)).find((w) => w.id === 'f3')!;
      expect(ejected).toMatchObject({ ejected: true, inFlight: 0 });
      const more = replies.length;
      await waitUntil(() => replies.length >= more + 30, 10_000, 10);
      expect(await sentTo('f3')).toBe(before);
      expect(gw.app.lines.some((l) => l.msg === 'worker left' && l.worker === 'f3' && Number(l.time) < ejectedAt)).toBe(false);
      running = false;
      await clients;
      // Every request was answered, those caught on the frozen worker by another worker once it was ejected.
      expect(replies.every((r) => r.reply.status === 200)).toBe(true);
      expect(replies.filter((r) => r.at >= ejectedAt && r.reply.worker === 'f3')).toEqual([]);
    } finally {
      running = false;
      frozen.app.signal('SIGCONT');
      await clients;
    }
    // Back, it answers pings again and takes traffic once its ejection is over.
    await waitUntil(async () => (await workers(gw.url)).find((w) => w.id === 'f3')?.ejected === false, 30_000, 100);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await post(gw.url, `/v1/services/${service}/echo`, { message: 'x' })).worker!);
    expect(seen.has('f3')).toBe(true);
  });

  it('hedging (HEDGE_IDEMPOTENT=true): requests to a frozen worker are answered by another one after its p99, not its timeout', async () => {
    const service = 'hedged';
    const [, frozen] = await Promise.all([stack.worker({ WORKER_ID: 'g1', WORKER_SERVICE: service }), stack.worker({ WORKER_ID: 'g2', WORKER_SERVICE: service })]);
    // Nothing else may save the requests: no pings, no ejection by failures, the request timeout far off.
    const gw = await stack.gateway({ LB_STRATEGY: 'round-robin', HEDGE_IDEMPOTENT: 'true', HEALTH_CHECK_INTERVAL_MS: '0', OUTLIER_CONSECUTIVE_FAILURES: '0', REQUEST_TIMEOUT_MS: '30000' });
    await waitForService(gw.url, service, ['g1', 'g2']);
    // Both workers measured: each needs its window's minimum of samples for a p99.
    const warm = await closedLoop(4, 60, () => post(gw.url, `/v1/services/${service}/echo`, { message: 'x' }));
    expect(warm.every((r) => r.status === 200)).toBe(true);
    frozen.app.signal('SIGSTOP');
    try {
      for (let i = 0; i < 6; i++) {
        const t0 = Date.now();
        const r = await post(gw.url, `/v1/services/${service}/echo`, { message: 'x' });
        expect(r.status).toBe(200);
        expect(r.worker).toBe('g1');
        // Far below the 30 s request timeout: the hedge went after g2's p99 of a few milliseconds.
        expect(Date.now() - t0).toBeLessThan(3000);
      }
      expect(metricSum(await metrics(gw), 'synod_gateway_hedges_total', { service })).toBeGreaterThanOrEqual(1);
    } finally {
      frozen.app.signal('SIGCONT');
    }
  });

  it('a worker SIGKILLed under load: retries on other workers hide it from clients, and it gets nothing after', async () => {
    const service = 'killed';
    const [, , victim] = await Promise.all([
      stack.worker({ WORKER_ID: 'k1', WORKER_SERVICE: service }),
      stack.worker({ WORKER_ID: 'k2', WORKER_SERVICE: service }),
      stack.worker({ WORKER_ID: 'victim', WORKER_SERVICE: service }),
    ]);
    // Attempts time out after 500 ms: requests caught in flight on the victim are retried elsewhere
    // (sleep is idempotent), well within the 10 s deadline.
    const gw = await stack.gateway({ LB_STRATEGY: 'round-robin', RETRY_ATTEMPT_TIMEOUT_MS: '500', WORKER_EXPIRY_MS: '60000', HTTP_PORT: '0' });
    await waitForService(gw.url, service, ['k1', 'k2', 'victim']);
    expect((await workers(gw.url)).find((w) => w.id === 'victim')).toBeDefined();
    let killedAt = Infinity;
    const started: { at: number; reply: Reply }[] = [];
    const load = closedLoop(12, 400, async () => {
      const at = Date.now();
      const reply = await post(gw.url, `/v1/services/${service}/sleep`, { ms: 20 });
      started.push({ at, reply });
      return reply;
    });
    await waitUntil(() => started.length >= 60, 20_000, 5);
    await victim.app.kill();
    killedAt = Date.now();
    const replies = await load;
    // No client error at all: the victim's in-flight requests timed out per attempt and were retried.
    expect(countBy(replies, (r) => String(r.status))).toEqual({ 200: 400 });
    // Nothing started after the kill was answered by the victim.
    expect(started.filter((s) => s.at > killedAt && s.reply.worker === 'victim')).toEqual([]);
    // It left the registry (no responders) and later requests never reach it.
    expect((await workers(gw.url)).find((w) => w.id === 'victim')).toBeUndefined();
    for (let i = 0; i < 20; i++) expect((await post(gw.url, `/v1/services/${service}/echo`, { message: 'x' })).worker).not.toBe('victim');
    const m = await metrics(gw);
    expect(metricSum(m, 'synod_gateway_worker_attempts_total', { worker: 'victim', code: 'NO_RESPONDERS' })).toBeGreaterThanOrEqual(1);
  });

  it('overload: in-flight per worker never exceeds its limit, the queue never exceeds its bound, the excess gets 503 at once', async () => {
    const service = 'busy';
    const LIMIT = 2;
    const MAX_PENDING = 3;
    const SLEEP_MS = 2500;
    const REQUESTS = 20;
    await Promise.all(
      ['b1', 'b2'].map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: service, WORKER_MAX_CONCURRENCY: String(LIMIT), HEARTBEAT_INTERVAL_MS: '100' })),
    );
    const gw = await stack.gateway({ LB_STRATEGY: 'least-outstanding', MAX_PENDING: String(MAX_PENDING), HTTP_PORT: '0' });
    await waitForService(gw.url, service, ['b1', 'b2']);
    await waitUntil(async () => (await workers(gw.url)).filter((w) => w.service === service).every((w) => w.maxConcurrency === LIMIT), 5000);
    const t0 = Date.now();
    const replies = await Promise.all(
      Array.from({ length: REQUESTS }, async () => {
        const r = await post(gw.url, `/v1/services/${service}/sleep`, { ms: SLEEP_MS });
        return { ...r, tookMs: Date.now() - t0 };
      }),
    );
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 503);
    expect(ok.length + refused.length).toBe(REQUESTS);
    // At least every slot and queue place was used; the rest was refused.
    expect(ok.length).toBeGreaterThanOrEqual(2 * LIMIT + MAX_PENDING);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(errorCode(r)).toBe('OVERLOADED');
      expect(r.headers.get('retry-after')).toBe('1');
    }
    // Refused at once: before the first sleeping job could have finished.
    expect(Math.max(...refused.map((r) => r.tookMs))).toBeLessThan(SLEEP_MS);
    const m = await metrics(gw);
    for (const id of ['b1', 'b2']) expect(metricSum(m, 'synod_gateway_worker_in_flight_peak', { worker: id })).toBeLessThanOrEqual(LIMIT);
    expect(metricSum(m, 'synod_gateway_pending_peak')).toBeLessThanOrEqual(MAX_PENDING);
    expect(metricSum(m, 'synod_gateway_pending_peak')).toBeGreaterThan(0);
    // The workers themselves never had to refuse a job (they answer OVERLOADED past their limit and count it as an error).
    await new Promise((r) => setTimeout(r, 300));
    for (const w of (await workers(gw.url)).filter((x) => x.service === service)) {
      expect(w.reported.errors).toBe(0);
      expect(w.errors).toBe(0);
    }
  });

  it('a service with no live worker: 503 with retry-after, without waiting', async () => {
    const w = await stack.worker({ WORKER_ID: 'gone', WORKER_SERVICE: 'empty' });
    const gw = await stack.gateway({ REQUEST_TIMEOUT_MS: '30000' });
    await waitForService(gw.url, 'empty', ['gone']);
    await w.app.stop();
    await waitForService(gw.url, 'empty', []);
    const t0 = Date.now();
    const r = await post(gw.url, '/v1/services/empty/echo', { message: 'x' });
    expect(r.status).toBe(503);
    expect(errorCode(r)).toBe('NO_WORKERS');
    expect(r.headers.get('retry-after')).toBe('1');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('the retry budget caps retries at its share of requests', async () => {
    const service = 'budget';
    const REQUESTS = 40;
    const PERCENT = 20;
    await Promise.all(['r1', 'r2', 'r3'].map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: service })));
    // Every attempt times out (sleep 300 ms, attempts cut at 30 ms) and sleep is idempotent: each
    // request would retry twice if the budget let it. No floor, so only the ratio applies.
    const gw = await stack.gateway({
      LB_STRATEGY: 'round-robin',
      RETRY_ATTEMPT_TIMEOUT_MS: '30',
      RETRY_BUDGET_PERCENT: String(PERCENT),
      RETRY_MIN_PER_SECOND: '0',
      OUTLIER_CONSECUTIVE_FAILURES: '0',
      HEALTH_CHECK_INTERVAL_MS: '0',
      HTTP_PORT: '0',
    });
    await waitForService(gw.url, service, ['r1', 'r2', 'r3']);
    const replies: Reply[] = [];
    for (let i = 0; i < REQUESTS; i++) replies.push(await post(gw.url, `/v1/services/${service}/sleep`, { ms: 300 }));
    expect(replies.every((r) => r.status === 504)).toBe(true);
    const m = await metrics(gw);
    const retries = metricSum(m, 'synod_gateway_retries_total', { service });
    const attempts = metricSum(m, 'synod_gateway_worker_attempts_total', { service });
    expect(retries).toBe(Math.floor((REQUESTS * PERCENT) / 100));
    expect(attempts).toBe(REQUESTS + retries);
    // Every request wanted a retry; those without one (and second retries) were refused by the budget.
    expect(metricSum(m, 'synod_gateway_rejected_total', { service, reason: 'budget' })).toBeGreaterThanOrEqual(REQUESTS - retries);
  });

  it('sheds load with 503 while the event loop lags (the gateway frozen for a moment)', async () => {
    const w = await stack.worker({ WORKER_ID: 'lag1', WORKER_SERVICE: 'lag' });
    const gw = await stack.gateway({ EVENT_LOOP_LAG_MS: '200', EVENT_LOOP_WINDOW_MS: '500' });
    await waitForService(gw.url, 'lag', ['lag1']);
    gw.app.signal('SIGSTOP');
    let replies: Reply[];
    try {
      const pending = Promise.all(Array.from({ length: 10 }, () => post(gw.url, '/v1/services/lag/echo', { message: 'x' })));
      await new Promise((r) => setTimeout(r, 1000));
      gw.app.signal('SIGCONT');
      replies = await pending;
    } finally {
      gw.app.signal('SIGCONT');
    }
    const shed = replies.filter((r) => r.status === 503);
    expect(shed.length).toBeGreaterThan(0);
    for (const r of shed) {
      expect(r.body).toMatchObject({ error: { code: 'OVERLOADED', details: { reason: 'event-loop-lag' } } });
      expect(r.headers.get('retry-after')).toBe('1');
    }
    expect(replies.every((r) => r.status === 200 || r.status === 503)).toBe(true);
    // Once the loop keeps up again, requests are served.
    await waitUntil(async () => (await post(gw.url, '/v1/services/lag/echo', { message: 'x' })).status === 200, 5000, 100);
    await w.app.stop();
  });
});
