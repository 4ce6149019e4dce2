import { Writable } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { SynodError } from '@synod/protocol';
import { createRootLogger } from '@synod/service-kit';
import { buildConsoleApp } from '../src/app.js';
import type { ConsoleBackend } from '../src/backend.js';
import { Sessions, AttemptLimiter } from '../src/sessions.js';
import { authenticate, hashPassword, UsersFileSchema, verifyPassword, type ConsoleUser } from '../src/users.js';

/** Cheap scrypt for tests (the default cost takes ~100 ms a check). */
const TEST_COST = { N: 1024, r: 8, p: 1 };

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createRootLogger({ service: 'console', instance: 'test', destination }) };
}

function fakeBackend(calls: string[]): ConsoleBackend {
  return {
    cluster: async () => ({ at: 1, leader: 'n1', term: 3, engine: 'raft', revision: 9, keys: 2, members: [{ id: 'n1', reachable: true, voter: true, role: 'leader' }] }),
    keys: async (prefix, after, limit) => {
      calls.push(`keys ${prefix} ${after ?? ''} ${limit}`);
      return { kvs: [], next: null, revision: 9 };
    },
    key: async (key) => {
      calls.push(`key ${key}`);
      return { kv: null, history: [], lease: null, revision: 9 };
    },
    put: async (key, value) => {
      calls.push(`put ${key}=${value}`);
      return { revision: 10 };
    },
    del: async (key) => {
      calls.push(`del ${key}`);
      return { deleted: 1, revision: 11 };
    },
    watch: async (prefix, _signal, _onEvent, fromRevision) => {
      calls.push(`watch ${prefix} from ${String(fromRevision)}`);
    },
    leases: async () => [],
    revokeLease: async (id) => {
      calls.push(`revoke ${id}`);
      return { revoked: true, deleted: 0 };
    },
    locks: async () => ({ locks: [], next: null, revision: 9 }),
    forceRelease: async (name, token, actor) => {
      calls.push(`forceRelease ${name} ${token} by ${actor}`);
      return { released: true, key: `locks/${name}/mutex/7`, lease: 7 };
    },
    services: async () => ({ at: 1, gateways: [], services: [], problems: [] }),
    setStrategy: async (service, strategy, actor) => {
      calls.push(`strategy ${service}=${strategy} by ${actor}`);
      return { applied: [{ gateway: 'gw', process: 1, ok: true }], problems: [] };
    },
    setWeight: async (worker, weight, actor) => {
      calls.push(`weight ${worker}=${weight} by ${actor}`);
      return { applied: [{ gateway: 'gw', process: 1, ok: true }], problems: [] };
    },
  };
}

let users: ConsoleUser[];
beforeAll(async () => {
  users = [
    { name: 'ada', role: 'admin', scrypt: await hashPassword('admin-password-1', TEST_COST) },
    { name: 'vic', role: 'viewer', scrypt: await hashPassword('viewer-password-1', TEST_COST) },
  ];
});

function consoleApp(over: { loginAttemptsPerMinute?: number } = {}) {
  const calls: string[] = [];
  const { lines, log } = capture();
  const app = buildConsoleApp({
    backend: fakeBackend(calls),
    users,
    assets: { html: '<!doctype html><div id="app"></div>', js: 'export {}', css: 'body{}' },
    log,
    refreshMs: 1000,
    sessionTtlMs: 60_000,
    secure: false,
    loginAttemptsPerMinute: over.loginAttemptsPerMinute ?? 10,
  });
  return { app, calls, lines };
}

type App = ReturnType<typeof consoleApp>['app'];

async function login(app: App, user: string, password: string) {
  const r = await app.inject({ method: 'POST', url: '/api/login', payload: { user, password } });
  const cookie = String(r.headers['set-cookie'] ?? '').split(';')[0]!;
  return { status: r.statusCode, cookie, csrf: r.statusCode === 200 ? (r.json() as { csrf: string }).csrf : '', headers: r.headers, body: r.json() as unknown };
}

describe('console users', () => {
  it('verifies scrypt hashes and refuses wrong passwords', async () => {
    const h = await hashPassword('s3cret-pass', TEST_COST);
    expect(await verifyPassword('s3cret-pass', h)).toBe(true);
    expect(await verifyPassword('s3cret-pasS', h)).toBe(false);
    expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
    expect(await authenticate(users, 'ada', 'admin-password-1')).toMatchObject({ name: 'ada', role: 'admin' });
    expect(await authenticate(users, 'ada', 'viewer-password-1')).toBeUndefined();
    expect(await authenticate(users, 'nobody', 'admin-password-1')).toBeUndefined();
  });

  it('checks a users file: roles, hash format, unique names', () => {
    const ok = { users: [{ name: 'a', role: 'viewer', scrypt: users[0]!.scrypt }] };
    expect(UsersFileSchema.safeParse(ok).success).toBe(true);
    expect(UsersFileSchema.safeParse({ users: [{ ...ok.users[0], role: 'root' }] }).success).toBe(false);
    expect(UsersFileSchema.safeParse({ users: [{ ...ok.users[0], scrypt: 'plaintext' }] }).success).toBe(false);
    expect(UsersFileSchema.safeParse({ users: [ok.users[0], ok.users[0]] }).success).toBe(false);
    expect(UsersFileSchema.safeParse({ users: [] }).success).toBe(false);
  });

  it('sessions expire and are bounded; attempts are limited per window', () => {
    let t = 0;
    const sessions = new Sessions(1000, () => t, 2);
    const a = sessions.create('a', 'viewer');
    sessions.create('b', 'viewer');
    sessions.create('c', 'viewer');
    expect(sessions.size).toBe(2);
    expect(sessions.get(a.id)).toBeUndefined();
    t = 5000;
    sessions.sweep();
    expect(sessions.size).toBe(0);
    const limiter = new AttemptLimiter(2, 60_000, () => t);
    expect([limiter.hit('u'), limiter.hit('u'), limiter.hit('u') > 0]).toEqual([0, 0, true]);
    t += 60_000;
    expect(limiter.hit('u')).toBe(0);
  });
});

describe('console access', () => {
  it('refuses a wrong password and every API call without a session', async () => {
    const { app, lines } = consoleApp();
    const bad = await login(app, 'ada', 'wrong-password');
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(bad.headers['set-cookie']).toBeUndefined();
    for (const url of ['/api/session', '/api/cluster', '/api/keys', '/api/leases', '/api/locks', '/api/live/cluster', '/api/services', '/api/live/services']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(401);
      expect(r.json(), url).toMatchObject({ error: { code: 'UNAUTHORIZED', retryable: false } });
    }
    expect(lines.some((l) => l.component === 'audit' && l.msg === 'login refused' && l.actor === 'ada')).toBe(true);
  });

  it('sets an HttpOnly, SameSite=Strict session cookie and serves the app with a strict CSP', async () => {
    const { app } = consoleApp();
    const r = await login(app, 'vic', 'viewer-password-1');
    expect(r.status).toBe(200);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    const session = await app.inject({ method: 'GET', url: '/api/session', headers: { cookie: r.cookie } });
    expect(session.json()).toMatchObject({ user: 'vic', role: 'viewer' });
  });

  it('gives a viewer 403 on every change, and an admin access with the CSRF token only', async () => {
    const { app, calls, lines } = consoleApp();
    const viewer = await login(app, 'vic', 'viewer-password-1');
    const changes = [
      { method: 'PUT' as const, url: '/api/keys', payload: { key: 'a', value: '1' } },
      { method: 'DELETE' as const, url: '/api/keys', payload: { key: 'a' } },
      { method: 'DELETE' as const, url: '/api/leases/7' },
      { method: 'POST' as const, url: '/api/locks/force-release', payload: { name: 'orders', token: 5, confirm: 'orders' } },
      { method: 'POST' as const, url: '/api/services/strategy', payload: { service: 'billing', strategy: 'least-outstanding', confirm: 'billing' } },
      { method: 'POST' as const, url: '/api/services/weight', payload: { worker: 'b1', weight: 0, confirm: 'b1' } },
      { method: 'POST' as const, url: '/api/services/weight', payload: { worker: 'b2', weight: 5, confirm: 'b2' } },
    ];
    for (const c of changes) {
      const r = await app.inject({ ...c, headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf } });
      expect(r.statusCode, c.url).toBe(403);
      expect(r.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    }
    const admin = await login(app, 'ada', 'admin-password-1');
    for (const c of changes) {
      const noCsrf = await app.inject({ ...c, headers: { cookie: admin.cookie } });
      expect(noCsrf.statusCode, c.url).toBe(403);
      const wrongCsrf = await app.inject({ ...c, headers: { cookie: admin.cookie, 'x-csrf-token': viewer.csrf } });
      expect(wrongCsrf.statusCode, c.url).toBe(403);
    }
    expect(calls).toEqual([]);
    for (const c of changes) {
      const r = await app.inject({ ...c, headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf } });
      expect(r.statusCode, c.url).toBe(200);
    }
    expect(calls).toEqual(['put a=1', 'del a', 'revoke 7', 'forceRelease orders 5 by ada', 'strategy billing=least-outstanding by ada', 'weight b1=0 by ada', 'weight b2=5 by ada']);
    const audit = lines.filter((l) => l.component === 'audit' && l.actor === 'ada' && l.ok === true).map((l) => l.action);
    expect(audit).toEqual(['login', 'put', 'delete', 'revokeLease', 'forceRelease', 'setStrategy', 'drainWorker', 'setWeight']);
    expect(lines.find((l) => l.action === 'drainWorker')).toMatchObject({ actor: 'ada', worker: 'b1', weight: 0, ok: true });
    for (const l of lines.filter((x) => x.component === 'audit' && x.action !== 'login')) expect(l.at).toEqual(expect.any(String));
  });

  it('rate-limits logins per user and per address', async () => {
    const { app } = consoleApp({ loginAttemptsPerMinute: 3 });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await login(app, 'ada', `guess-${i}`)).status);
    expect(codes).toEqual([401, 401, 401, 429, 429]);
    const limited = await app.inject({ method: 'POST', url: '/api/login', payload: { user: 'ada', password: 'admin-password-1' } });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED', retryable: true } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another user from another address is not held back by it.
    const other = await app.inject({ method: 'POST', url: '/api/login', payload: { user: 'vic', password: 'viewer-password-1' }, remoteAddress: '10.1.1.1' });
    expect(other.statusCode).toBe(200);
  });

  it('logs out', async () => {
    const { app } = consoleApp();
    const s = await login(app, 'ada', 'admin-password-1');
    expect((await app.inject({ method: 'POST', url: '/api/logout', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/session', headers: { cookie: s.cookie } })).statusCode).toBe(401);
  });
});

describe('console API input', () => {
  it.each([
    ['garbage JSON', 400, 'BAD_REQUEST', { method: 'PUT' as const, url: '/api/keys', payload: '{nope', headers: { 'content-type': 'application/json' } }],
    ['a wrong type', 400, 'BAD_REQUEST', { method: 'PUT' as const, url: '/api/keys', payload: { key: 7, value: [] } }],
    ['an empty key', 400, 'BAD_REQUEST', { method: 'DELETE' as const, url: '/api/keys', payload: { key: '' } }],
    ['an oversized body', 413, 'PAYLOAD_TOO_LARGE', { method: 'PUT' as const, url: '/api/keys', payload: { key: 'k', value: 'x'.repeat(2 * 1024 * 1024) } }],
    ['a non-numeric lease', 400, 'BAD_REQUEST', { method: 'DELETE' as const, url: '/api/leases/abc' }],
    ['a force-release without confirmation', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/locks/force-release', payload: { name: 'orders', token: 5, confirm: 'order' } }],
    ['a bad lock name', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/locks/force-release', payload: { name: 'a/b', token: 5, confirm: 'a/b' } }],
    ['a negative page size', 400, 'BAD_REQUEST', { method: 'GET' as const, url: '/api/keys?limit=-3' }],
    ['a huge page size', 400, 'BAD_REQUEST', { method: 'GET' as const, url: '/api/locks?limit=100000' }],
    ['text instead of JSON', 415, 'UNSUPPORTED_MEDIA_TYPE', { method: 'PUT' as const, url: '/api/keys', payload: 'key=a', headers: { 'content-type': 'text/plain' } }],
    ['an unknown route', 404, 'NOT_FOUND', { method: 'GET' as const, url: '/api/nothing' }],
    ['an unknown strategy', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/services/strategy', payload: { service: 'billing', strategy: 'fastest', confirm: 'billing' } }],
    ['a strategy switch without confirmation', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/services/strategy', payload: { service: 'billing', strategy: 'random', confirm: '' } }],
    ['a bad service name', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/services/strategy', payload: { service: 'a.b', strategy: 'random', confirm: 'a.b' } }],
    ['a weight out of range', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/services/weight', payload: { worker: 'b1', weight: 1001, confirm: 'b1' } }],
    ['a fractional weight', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/services/weight', payload: { worker: 'b1', weight: 0.5, confirm: 'b1' } }],
    ['a drain without confirmation', 400, 'BAD_REQUEST', { method: 'POST' as const, url: '/api/services/weight', payload: { worker: 'b1', weight: 0, confirm: 'b2' } }],
  ] as [string, number, string, InjectOptions][])('%s gets %i %s', async (_what, status, code, req) => {
    const { app, calls } = consoleApp();
    const s = await login(app, 'ada', 'admin-password-1');
    const r = await app.inject({ ...req, headers: { ...req.headers, cookie: s.cookie, 'x-csrf-token': s.csrf } });
    expect(r.statusCode).toBe(status);
    expect(r.json()).toMatchObject({ error: { code, message: expect.any(String), retryable: expect.any(Boolean) } });
    expect(calls.filter((c) => !c.startsWith('keys') && !c.startsWith('key '))).toEqual([]);
    // Still serving.
    expect((await app.inject({ method: 'GET', url: '/api/cluster', headers: { cookie: s.cookie } })).statusCode).toBe(200);
  });

  it('watches every key when the watch names no prefix, and the prefix given otherwise', async () => {
    const { app, calls } = consoleApp();
    const s = await login(app, 'vic', 'viewer-password-1');
    for (const url of ['/api/live/watch?from=3', '/api/live/watch?prefix=app%2F']) {
      expect((await app.inject({ method: 'GET', url, headers: { cookie: s.cookie } })).statusCode, url).toBe(200);
    }
    expect(calls.filter((c) => c.startsWith('watch'))).toEqual(['watch  from 3', 'watch app/ from undefined']);
  });

  it("answers the services view with the strategies the console can set, and a gateway's failure as its envelope", async () => {
    const { app } = consoleApp();
    const s = await login(app, 'vic', 'viewer-password-1');
    const ok = await app.inject({ method: 'GET', url: '/api/services', headers: { cookie: s.cookie } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ services: [], strategiesAvailable: expect.arrayContaining(['round-robin', 'least-outstanding']) });
    const failing = buildConsoleApp({
      backend: { ...fakeBackend([]), services: async () => Promise.reject(new SynodError('BAD_GATEWAY', 'an answer on t.gateway.stats is not JSON')) },
      users,
      assets: { html: '', js: '', css: '' },
      log: capture().log,
      refreshMs: 1000,
      sessionTtlMs: 60_000,
      secure: false,
      loginAttemptsPerMinute: 10,
    });
    const f = await login(failing, 'vic', 'viewer-password-1');
    const r = await failing.inject({ method: 'GET', url: '/api/services', headers: { cookie: f.cookie } });
    expect(r.statusCode).toBe(502);
    expect(r.json()).toMatchObject({ error: { code: 'BAD_GATEWAY', message: 'an answer on t.gateway.stats is not JSON' } });
  });

  it('answers a garbage or oversized login with the envelope', async () => {
    const { app } = consoleApp();
    for (const payload of ['{nope', JSON.stringify({ user: 5, password: null }), JSON.stringify({ user: 'ada', password: 'x'.repeat(5000) })]) {
      const r = await app.inject({ method: 'POST', url: '/api/login', payload, headers: { 'content-type': 'application/json' } });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    }
  });
});
