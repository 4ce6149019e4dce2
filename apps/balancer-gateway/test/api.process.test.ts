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
