import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { SynodError, toSynodError } from '@synod/protocol';
import { createRootLogger } from '@synod/service-kit';
import { adminPlugin, type AdminAnswer, type AdminChange } from '../src/plugins/admin.js';

const log = createRootLogger({ service: 'gw', instance: 'admin-test', level: 'silent' });
const TOKEN = 'admin-token-0123456789';

/** The admin plugin as the ops port mounts it, over an `apply` that records the changes. */
async function admin(answer: (c: AdminChange) => AdminAnswer = () => ({ ok: true, state: { applied: true } }), adminToken: string | null = TOKEN) {
  const changes: AdminChange[] = [];
  const app = Fastify({ logger: false });
  app.setErrorHandler((err, _req, reply) => {
    const e = err instanceof SynodError ? err : (err as { statusCode?: number }).statusCode === 400 ? new SynodError('BAD_REQUEST', String(err)) : toSynodError(err);
    void reply.code(e.httpStatus).send(e.toEnvelope());
  });
  await app.register(adminPlugin, {
    prefix: '/v1/admin',
    log,
    apply: async (c) => {
      changes.push(c);
      return answer(c);
    },
    ...(adminToken === null ? {} : { adminToken }),
  });
  return { app, changes };
}

const call = (method: 'PUT' | 'DELETE', url: string, body?: unknown, token: string | null = TOKEN) => ({
  method,
  url,
  headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
});

describe('admin plugin', () => {
  it('is closed without ADMIN_TOKEN: 403 naming the variable on every route, nothing applied', async () => {
    const { app, changes } = await admin(undefined, null);
    for (const [method, url, body] of [
      ['PUT', '/v1/admin/workers/w1/weight', { weight: 2 }],
      ['DELETE', '/v1/admin/workers/w1/weight', undefined],
      ['PUT', '/v1/admin/services/sample/strategy', { strategy: 'random' }],
      ['DELETE', '/v1/admin/services/sample/strategy', undefined],
    ] as const) {
      const r = await app.inject(call(method, url, body));
      expect(r.statusCode).toBe(403);
      expect(r.json().error.message).toContain('ADMIN_TOKEN');
    }
    expect(changes).toEqual([]);
  });

  it('needs the token as a bearer token on every route, under one hook', async () => {
    const { app, changes } = await admin();
    for (const token of [null, 'wrong-token-0123456789', `${TOKEN}x`]) {
      expect((await app.inject(call('PUT', '/v1/admin/services/sample/strategy', { strategy: 'random' }, token))).statusCode).toBe(403);
      expect((await app.inject(call('DELETE', '/v1/admin/workers/w1/weight', undefined, token))).statusCode).toBe(403);
    }
    expect(changes).toEqual([]);
    expect((await app.inject(call('PUT', '/v1/admin/services/sample/strategy', { strategy: 'random' }))).json()).toEqual({ applied: true });
  });

  it('turns each route into its change and answers what the processes left in force', async () => {
    const { app, changes } = await admin();
    await app.inject(call('PUT', '/v1/admin/workers/w1/weight', { weight: 2 }));
    await app.inject(call('DELETE', '/v1/admin/workers/w1/weight'));
    await app.inject(call('PUT', '/v1/admin/services/sample/strategy', { strategy: 'p2c-ewma' }));
    await app.inject(call('DELETE', '/v1/admin/services/sample/strategy'));
    expect(changes).toEqual([
      { op: 'weight', worker: 'w1', weight: 2 },
      { op: 'weight', worker: 'w1', weight: null },
      { op: 'strategy', service: 'sample', strategy: 'p2c-ewma' },
      { op: 'strategy', service: 'sample', strategy: null },
    ]);
  });

  it("answers a process's refusal with its status (404 for a service with no live worker)", async () => {
    const { app } = await admin(() => ({ ok: false, error: new SynodError('NOT_FOUND', 'service "ghost" has no live worker') }));
    const r = await app.inject(call('PUT', '/v1/admin/services/ghost/strategy', { strategy: 'random' }));
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('refuses bad names and bodies before anything goes on the bus', async () => {
    const { app, changes } = await admin();
    expect((await app.inject(call('PUT', '/v1/admin/services/sample/strategy', { strategy: 'fastest' }))).statusCode).toBe(400);
    expect((await app.inject(call('PUT', '/v1/admin/services/sample/strategy', { strategy: '__proto__' }))).statusCode).toBe(400);
    expect((await app.inject(call('PUT', '/v1/admin/workers/w1/weight', { weight: -1 }))).statusCode).toBe(400);
    expect((await app.inject(call('PUT', '/v1/admin/workers/w1/weight', { weight: 'heavy' }))).statusCode).toBe(400);
    expect((await app.inject(call('PUT', '/v1/admin/workers/a.b/weight', { weight: 1 }))).statusCode).toBe(400);
    expect(changes).toEqual([]);
  });
});
