import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, Stack, waitForWorkers, waitUntil, workers } from './stack.js';

/** Workers dying and draining under a live gateway: real SIGKILL and SIGTERM. */
describe('worker faults', () => {
  let stack: Stack;
  let nc: NatsConnection;

  const HEARTBEAT_INTERVAL_MS = 200;
  const WORKER_EXPIRY_MS = 1000;
  const REGISTRY_SWEEP_MS = 200;
  /** Slack for a busy 2-core machine to run the sweep timer and answer the poll. */
  const SCHEDULING_SLACK_MS = 1000;

  beforeAll(async () => {
    stack = await Stack.start();
    nc = await connect({ servers: stack.nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  it('a worker killed with SIGKILL leaves the registry within expiry + one sweep, and gets no request after', async () => {
    const env = { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) };
    const [k1, k2, victim] = await Promise.all([
      stack.worker({ ...env, WORKER_ID: 'k1' }),
      stack.worker({ ...env, WORKER_ID: 'k2' }),
      stack.worker({ ...env, WORKER_ID: 'victim' }),
    ]);
    const gw = await stack.gateway({
      LB_STRATEGY: 'round-robin',
      WORKER_EXPIRY_MS: String(WORKER_EXPIRY_MS),
      REGISTRY_SWEEP_MS: String(REGISTRY_SWEEP_MS),
    });
    await waitForWorkers(gw.url, [k1.id, k2.id, victim.id]);

    const killedAt = Date.now();
    await victim.app.kill();
    // No requests meanwhile: the registry alone must notice (not a failed request).
    const tookMs = await waitUntil(async () => !(await workers(gw.url)).some((w) => w.id === 'victim'), 10_000, 20);
    const bound = WORKER_EXPIRY_MS + REGISTRY_SWEEP_MS + SCHEDULING_SLACK_MS;
    expect(Date.now() - killedAt).toBeLessThanOrEqual(bound);
    expect(tookMs).toBeGreaterThan(0);
    // It did leave for missing heartbeats, not earlier than its expiry allowed.
    const left = await gw.app.waitForLine((l) => l.msg === 'worker left' && l.worker === 'victim', 1000);
    expect(left.reason).toBe('expired');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(WORKER_EXPIRY_MS - HEARTBEAT_INTERVAL_MS);

    const seen: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const r = await post(gw.url, '/v1/services/sample/echo', { message: 'after' });
      expect(r.status).toBe(200);
      seen[r.worker!] = (seen[r.worker!] ?? 0) + 1;
    }
    expect(seen).toEqual({ k1: 30, k2: 30 });
    await Promise.all([k1.app.stop(), k2.app.stop()]);
  });

  it('a dead worker still in the registry costs no failed request: no responders means try another', async () => {
    const [a, b] = await Promise.all([stack.worker({ WORKER_ID: 'n1' }), stack.worker({ WORKER_ID: 'n2' })]);
    // Expiry far away: only the no-responders path can save these requests.
    const gw = await stack.gateway({ LB_STRATEGY: 'round-robin', WORKER_EXPIRY_MS: '60000' });
    await waitForWorkers(gw.url, [a.id, b.id]);
    await b.app.kill();
    for (let i = 0; i < 10; i++) {
      const r = await post(gw.url, '/v1/services/sample/echo', { message: 'x' });
      expect(r.status).toBe(200);
      expect(r.worker).toBe('n1');
    }
    expect((await workers(gw.url)).map((w) => w.id)).toEqual(['n1']);
    await a.app.stop();
  });

  it('a worker stopped with SIGTERM finishes every in-flight job, deregisters and exits 0', async () => {
    const [stay, leaver] = await Promise.all([stack.worker({ WORKER_ID: 'stay' }), stack.worker({ WORKER_ID: 'leaver' })]);
    const gw = await stack.gateway({ LB_STRATEGY: 'round-robin' });
    await waitForWorkers(gw.url, [stay.id, leaver.id]);

    // 20 slow jobs, half of them on the worker about to leave; long enough that all 20 are surely
    // in flight together even when a loaded machine takes a while to send them.
    const jobs = Array.from({ length: 20 }, (_, i) => post(gw.url, '/v1/services/sample/sleep', { ms: 2000 + i }));
    // Make sure the leaver really holds its jobs before the signal.
    await waitUntil(async () => ((await workers(gw.url)).find((x) => x.id === 'leaver')?.inFlight ?? 0) >= 10, 5000);
    leaver.app.signal('SIGTERM');
    // Requests sent while it drains are answered: by the other worker once the gateway has its deregister.
    const during = await Promise.all(Array.from({ length: 10 }, () => post(gw.url, '/v1/services/sample/echo', { message: 'during' })));
    const results = await Promise.all(jobs);
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(results.filter((r) => r.worker === 'leaver')).toHaveLength(10);
    expect(during.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await leaver.app.exited).code).toBe(0);
    const drained = await leaver.app.waitForLine((l) => l.msg === 'endpoints drained', 1000);
    expect(drained).toMatchObject({ finished: true });
    // Its 10 jobs, and any request the gateway sent it before hearing its deregister (the signal and
    // the requests race), which it finished too.
    const lateArrivals = during.filter((r) => r.worker === 'leaver').length;
    expect(Number(drained.inFlightAtStop)).toBeGreaterThanOrEqual(10);
    expect(Number(drained.inFlightAtStop)).toBeLessThanOrEqual(10 + lateArrivals);
    await waitForWorkers(gw.url, ['stay']);
    await stay.app.stop();
  });

  it('a known service with no live worker answers 503 at once, an unknown one 404', async () => {
    const w = await stack.worker({ WORKER_ID: 'lonely', WORKER_SERVICE: 'lonely' });
    const gw = await stack.gateway({ REQUEST_TIMEOUT_MS: '30000' });
    await waitForWorkers(gw.url, ['lonely']);
    await w.app.stop();
    await waitForWorkers(gw.url, []);
    const started = Date.now();
    const r = await post(gw.url, '/v1/services/lonely/echo', { message: 'x' });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: { code: 'NO_WORKERS', retryable: true } });
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    // Far below the 30 s request timeout: nothing waited.
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await post(gw.url, '/v1/services/never-seen/echo', { message: 'x' })).status).toBe(404);
  });
});
