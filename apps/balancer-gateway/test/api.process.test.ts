import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess, appScript } from '@synod/testkit';
import { post, Stack, waitForService } from './stack.js';

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

  it('admin routes need the token when ADMIN_TOKEN is set', async () => {
    await stack.worker({ WORKER_ID: 'adm1', WORKER_SERVICE: 'adm' });
    const gw = await stack.gateway({ ADMIN_TOKEN: 'sesame-0123' });
    await waitForService(gw.url, 'adm', ['adm1']);
    const attempt = (auth?: string) =>
      fetch(`${gw.url}/v1/admin/workers/adm1/weight`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ weight: 2 }),
      });
    const denied = await attempt();
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await attempt('Bearer wrong-token')).status).toBe(403);
    expect((await attempt('Bearer sesame-0123')).status).toBe(200);
    expect((await post(gw.url, '/v1/services/adm/echo', { message: 'x' })).status).toBe(200);
  });

  it('admin routes answer garbage, wrong types and oversized bodies with the envelope and keep serving', async () => {
    await stack.worker({ WORKER_ID: 'bad1', WORKER_SERVICE: 'badadm' });
    const gw = await stack.gateway({ MAX_BODY_BYTES: '1024' });
    await waitForService(gw.url, 'badadm', ['bad1']);
    const send = async (path: string, body: string) => {
      const r = await fetch(`${gw.url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
      return { status: r.status, body: (await r.json()) as { error?: { code: string; retryable: boolean } } };
    };
    for (const path of ['/v1/admin/workers/bad1/weight', '/v1/admin/services/badadm/strategy']) {
      expect(await send(path, '{"weight": nope')).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', retryable: false } } });
      expect(await send(path, JSON.stringify({ weight: 'heavy', strategy: 7 }))).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
      expect(await send(path, '[1,2]')).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
      expect(await send(path, JSON.stringify({ weight: 1, strategy: 'x'.repeat(2048) }))).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    }
    expect((await send('/v1/admin/workers/bad1/weight', JSON.stringify({ weight: -1 }))).status).toBe(400);
    // Nothing changed, and the gateway still routes.
    const view = (await (await fetch(`${gw.url}/v1/workers`)).json()) as { workers: { id: string; weight: number }[] };
    expect(view.workers.find((w) => w.id === 'bad1')?.weight).toBe(1);
    expect((await post(gw.url, '/v1/services/badadm/echo', { message: 'still here' })).status).toBe(200);
    expect(gw.app.running).toBe(true);
  });

  it.each([
    ['LB_STRATEGY_OVERRIDES', 'svc=fastest'],
    ['LB_STRATEGY', 'fastest'],
    ['IDEMPOTENT_ENDPOINTS', 'nope'],
    ['LB_HASH_BODY_FIELD', 'a..b'],
    ['OUTLIER_MAX_EJECTION_PERCENT', '150'],
  ])('a bad %s exits 2 naming the variable', async (name, value) => {
    const r = await AppProcess.runToExit({ script: appScript('balancer-gateway'), env: { NATS_URL: stack.nats.url, [name]: value } });
    expect(r.code).toBe(2);
    expect([...r.app.stderr, ...r.app.lines.map((l) => JSON.stringify(l))].join('\n')).toContain(name);
  });
});
