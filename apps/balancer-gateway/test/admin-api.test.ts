import { afterEach, describe, expect, it } from 'vitest';
import { deriveRouteTargets } from '@synod/fuzz';
import { createMetricsRegistry, createRootLogger, startOpsServer, type OpsServer } from '@synod/service-kit';
import { adminRoutes } from '../src/admin-api.js';
import { WorkerRegistry } from '../src/registry.js';
import type { Router } from '../src/router.js';

const TOKEN = 'admin-test-token';

/** The ops server as the gateway runs it, with a router that records strategy changes. */
async function opsWithAdmin(adminToken: string | undefined) {
  const changes: string[] = [];
  const router = {
    strategyOf: () => 'weighted',
    setStrategy: (service: string, strategy: string | undefined) => changes.push(`${service}=${strategy ?? 'default'}`),
  } as unknown as Router;
  const log = createRootLogger({ service: 'gw', instance: 'admin-test', level: 'silent' });
  const ops = await startOpsServer({
    port: 0,
    host: '127.0.0.1',
    checks: [],
    registry: createMetricsRegistry({ service: 'gw', instance: 'admin-test' }),
    log,
    routes: adminRoutes({ router, registry: new WorkerRegistry(60_000), log, ...(adminToken === undefined ? {} : { adminToken }) }),
  });
  return { ops, changes };
}

let ops: OpsServer | undefined;
afterEach(async () => {
  await ops?.close();
  ops = undefined;
});

const put = (port: number, path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: '{"strategy":"random"}' });

describe('gateway admin routes on the ops port', () => {
  it('change a strategy only with the token', async () => {
    const s = await opsWithAdmin(TOKEN);
    ops = s.ops;
    expect((await put(ops.port, '/v1/admin/services/sample/strategy')).status).toBe(403);
    const ok = await put(ops.port, '/v1/admin/services/sample/strategy', { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(s.changes).toEqual(['sample=random']);
  });

  // Found by the fuzzer (libs/fuzz): the token check tested the raw url for `/v1/admin/`, and the
  // router decodes percent-escapes, so these changed the strategy without a token.
  it.each(['/v1/%61dmin/services/sample/strategy', '/%761/admin/services/sample/strategy', '/v1/admin/%73ervices/sample/strategy'])(
    'refuse %s, the same route spelled otherwise, without the token',
    async (path) => {
      for (const token of [TOKEN, undefined]) {
        const s = await opsWithAdmin(token);
        ops = s.ops;
        const res = await put(ops.port, path, { authorization: 'Bearer not-the-token' });
        expect(res.status).toBe(403);
        expect(await res.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
        expect(s.changes).toEqual([]);
        await ops.close();
        ops = undefined;
      }
    },
  );

  it('are each a target of the fuzzer (npm run fuzz), with the ops server routes', async () => {
    const s = await opsWithAdmin(TOKEN);
    ops = s.ops;
    expect(ops.info.routes).toEqual(expect.arrayContaining(['PUT /v1/admin/workers/:id/weight', 'DELETE /v1/admin/services/:service/strategy']));
    const d = deriveRouteTargets([ops.info]);
    expect(d.missing).toEqual([]);
    expect(d.targets.map((t) => `${t.method} ${t.url}`)).toEqual([...ops.info.routes, 'ANY /fuzz-no-route/:service/:endpoint']);
  });

  it('leave the ops server routes open', async () => {
    const s = await opsWithAdmin(undefined);
    ops = s.ops;
    expect((await fetch(`http://127.0.0.1:${ops.port}/healthz`)).status).toBe(200);
  });
});
