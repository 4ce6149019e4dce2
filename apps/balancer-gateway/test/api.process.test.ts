import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess, appScript } from '@synod/testkit';
import { post, put, Stack, TEST_ADMIN_TOKEN, waitForService, workers } from './stack.js';

/** The gateway's documentation, admin protection and configuration errors. */
describe('gateway API surface', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('serves the OpenAPI document at /docs/json and a page at /docs', async () => {
    const gw = await stack.gateway();
    const json = (await (await fetch(`${gw.url}/docs/json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(json.openapi).toBe('3.1.0');
    expect(Object.keys(json.paths)).toContain('/v1/services/{service}/{endpoint}');
    const page = await fetch(`${gw.url}/docs`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('/docs/json');
  });

  it('admin routes are closed by default: 403 naming ADMIN_TOKEN on the ops port, 404 on the public port', async () => {
    await stack.worker({ WORKER_ID: 'cls1', WORKER_SERVICE: 'cls' });
    const gw = await stack.gateway();
    await waitForService(gw.url, 'cls', ['cls1']);
    for (const headers of [{}, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }] as Record<string, string>[]) {
      const closed = await put(gw.opsUrl, '/v1/admin/services/cls/strategy', { strategy: 'random' }, 'PUT', headers);
      expect(closed).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN', retryable: false } } });
      expect((closed.body as { error: { message: string } }).error.message).toContain('ADMIN_TOKEN');
      expect(await put(gw.url, '/v1/admin/services/cls/strategy', { strategy: 'random' }, 'PUT', headers)).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    }
    expect((await put(gw.opsUrl, '/v1/admin/workers/cls1/weight', { weight: 0 })).status).toBe(403);
    const services = (await (await fetch(`${gw.url}/v1/services`)).json()) as { services: { service: string; strategy: string }[] };
    expect(services.services.find((s) => s.service === 'cls')?.strategy).toBe('weighted');
    expect((await workers(gw.url)).find((w) => w.id === 'cls1')?.weight).toBe(1);
    expect(gw.ready.admin).toBe(false);
  });

  it('with ADMIN_TOKEN, admin routes on the ops port need it as a bearer token', async () => {
    await stack.worker({ WORKER_ID: 'adm1', WORKER_SERVICE: 'adm' });
    const gw = await stack.gateway({ ADMIN_TOKEN: TEST_ADMIN_TOKEN });
    await waitForService(gw.url, 'adm', ['adm1']);
    const attempt = (auth?: string) => put(gw.opsUrl, '/v1/admin/workers/adm1/weight', { weight: 2 }, 'PUT', auth ? { authorization: auth } : {});
    expect(await attempt()).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect((await attempt('Bearer wrong-token-0123456789')).status).toBe(403);
    expect((await attempt(`Bearer ${TEST_ADMIN_TOKEN}`)).status).toBe(200);
    expect((await put(gw.url, '/v1/admin/workers/adm1/weight', { weight: 2 }, 'PUT', { authorization: `Bearer ${TEST_ADMIN_TOKEN}` })).status).toBe(404);
    expect((await workers(gw.url)).find((w) => w.id === 'adm1')?.weight).toBe(2);
    expect((await post(gw.url, '/v1/services/adm/echo', { message: 'x' })).status).toBe(200);
    expect(gw.ready.admin).toBe(true);
  });

  it('admin routes answer garbage, wrong types and oversized bodies with the envelope and keep serving', async () => {
    await stack.worker({ WORKER_ID: 'bad1', WORKER_SERVICE: 'badadm' });
    const gw = await stack.gateway({ ADMIN_TOKEN: TEST_ADMIN_TOKEN });
    await waitForService(gw.url, 'badadm', ['bad1']);
    const send = async (path: string, body: string) => {
      const r = await fetch(`${gw.opsUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, body });
      return { status: r.status, body: (await r.json()) as { error?: { code: string; retryable: boolean } } };
    };
    for (const path of ['/v1/admin/workers/bad1/weight', '/v1/admin/services/badadm/strategy']) {
      expect(await send(path, '{"weight": nope')).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', retryable: false } } });
      expect(await send(path, JSON.stringify({ weight: 'heavy', strategy: 7 }))).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
      expect(await send(path, '[1,2]')).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
      expect(await send(path, JSON.stringify({ weight: 1, strategy: 'x'.repeat(32 * 1024) }))).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    }
    expect((await send('/v1/admin/workers/bad1/weight', JSON.stringify({ weight: -1 }))).status).toBe(400);
    // Nothing changed, and the gateway still routes.
    const view = (await (await fetch(`${gw.url}/v1/workers`)).json()) as { workers: { id: string; weight: number }[] };
    expect(view.workers.find((w) => w.id === 'bad1')?.weight).toBe(1);
    expect((await post(gw.url, '/v1/services/badadm/echo', { message: 'still here' })).status).toBe(200);
    expect(gw.app.running).toBe(true);
  });

  it('answers 404 to a strategy for a service with no live worker unless LB_STRATEGY_OVERRIDES names it, and keeps nothing', async () => {
    await stack.worker({ WORKER_ID: 'str1', WORKER_SERVICE: 'str' });
    const gw = await stack.gateway({ ADMIN_TOKEN: TEST_ADMIN_TOKEN, LB_STRATEGY_OVERRIDES: 'later=p2c-ewma' });
    await waitForService(gw.url, 'str', ['str1']);
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    for (const service of ['ghost', '__proto__', 'constructor']) {
      for (const method of ['PUT', 'DELETE'] as const) {
        const r = await put(gw.opsUrl, `/v1/admin/services/${service}/strategy`, { strategy: 'random' }, method, auth);
        expect(r).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
        expect((r.body as { error: { message: string } }).error.message).toContain('LB_STRATEGY_OVERRIDES');
      }
    }
    expect(await put(gw.opsUrl, '/v1/admin/services/later/strategy', { strategy: 'random' }, 'PUT', auth)).toMatchObject({ status: 200, body: { strategy: 'random' } });
    expect(await put(gw.opsUrl, '/v1/admin/services/str/strategy', { strategy: 'random' }, 'PUT', auth)).toMatchObject({ status: 200, body: { strategy: 'random' } });
    const services = (await (await fetch(`${gw.url}/v1/services`)).json()) as { services: { service: string }[] };
    // Known services are the ones workers announced; none of the refused names became one.
    for (const name of ['ghost', '__proto__', 'constructor', 'later']) expect(services.services.map((s) => s.service)).not.toContain(name);
  });

  it('warns at start, naming the variables, when a frozen worker could outlive the ejection bound', async () => {
    for (const [env, variables] of [
      [{ HEALTH_CHECK_INTERVAL_MS: '2000' }, ['HEALTH_CHECK_INTERVAL_MS', 'HEALTH_CHECK_FAILURES', 'HEALTH_CHECK_TIMEOUT_MS', 'WORKER_EXPIRY_MS']],
      [{ HEALTH_CHECK_INTERVAL_MS: '0' }, ['HEALTH_CHECK_INTERVAL_MS']],
    ] as const) {
      const gw = await stack.gateway(env);
      const line = gw.app.lines.find((l) => l.level === 40 && Array.isArray(l.variables));
      expect(line?.variables).toEqual(variables);
      await gw.app.stop();
    }
    const quiet = await stack.gateway();
    expect(quiet.app.lines.some((l) => Array.isArray(l.variables))).toBe(false);
  });

  it.each([
    ['LB_STRATEGY_OVERRIDES', 'svc=fastest'],
    ['LB_STRATEGY', 'fastest'],
    ['IDEMPOTENT_ENDPOINTS', 'nope'],
    ['LB_HASH_BODY_FIELD', 'a..b'],
    ['OUTLIER_MAX_EJECTION_PERCENT', '150'],
    ['ADMIN_TOKEN', 'short'],
    ['API_KEYS_FILE', '/nonexistent/keys.json'],
    ['RATE_LIMIT_PER_SECOND', '0'],
    ['CORS_ORIGINS', 'ftp://example.com'],
    ['ACCESS_LOG', 'sometimes'],
    ['METRICS_MAX_LABEL_VALUES', '0'],
    ['SYNOD_ENV', 'staging'],
    ['GATEWAY_PROCESSES', '0'],
    ['GATEWAY_PROCESSES', 'many'],
    ['HEDGE_IDEMPOTENT', 'maybe'],
  ])('a bad %s exits 2 naming the variable', async (name, value) => {
    const r = await AppProcess.runToExit({ script: appScript('balancer-gateway'), env: { NATS_URL: stack.nats.url, [name]: value } });
    expect(r.code).toBe(2);
    expect([...r.app.stderr, ...r.app.lines.map((l) => JSON.stringify(l))].join('\n')).toContain(name);
  });
});
