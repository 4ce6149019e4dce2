import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRootLogger, parseConfig } from '@synod/service-kit';
import { ApiKeysFile, CorsOrigins, type ApiKeys, type EdgeOptions } from '../src/edge.js';
import { buildApi } from '../src/http-api.js';
import { WorkerRegistry } from '../src/registry.js';
import type { Router } from '../src/router.js';

/** A router that answers every request from worker `w1` at once. */
const router = {
  route: async () => ({ ok: true, result: { echoed: true }, worker: 'w1', attempts: 1 }),
  strategyOf: () => 'weighted',
  describe: () => ({}),
  pending: 0,
  pendingPeak: 0,
} as unknown as Router;

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createRootLogger({ service: 'gw', instance: 'edge-test', destination }) };
}

function api(edge: Omit<EdgeOptions, 'log'>) {
  const { lines, log } = capture();
  const app = buildApi({ router, registry: new WorkerRegistry(60_000), log, maxBodyBytes: 1024, requestTimeoutMs: 1000, edge });
  return { app, lines };
}

const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const KEYS: ApiKeys = new Map([
  [sha('sk_billing_0123456789'), 'billing'],
  [sha('sk_reports_0123456789'), 'reports'],
]);
const echo = (headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/v1/services/sample/echo',
  headers: { 'content-type': 'application/json', ...headers },
  payload: '{"message":"hi"}',
});

describe('gateway edge: API keys', () => {
  it('refuses /v1/ routes without a valid key with 401 and the envelope, and lets /docs through', async () => {
    const { app } = api({ accessLog: false, apiKeys: KEYS });
    for (const headers of [{}, { 'x-api-key': 'sk_wrong' }, { authorization: 'Bearer sk_wrong' }, { 'x-api-key': 'x'.repeat(5000) }] as Record<string, string>[]) {
      const r = await app.inject(echo(headers));
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({ error: { code: 'UNAUTHORIZED', retryable: false } });
    }
    expect((await app.inject({ method: 'GET', url: '/v1/workers' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/v1/services' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
  });

  // Found by the fuzzer (libs/fuzz): the guard tested the raw url for `/v1/`, and the router
  // decodes percent-escapes, so these reached the routes without a key.
  it.each(['/%761/workers', '/%76%31/services', '/%2Fv1/workers', '/v1/%77orkers', '/%761/services/sample/echo', '/%761/nosuch'])('guards %s, which the router reads as a /v1/ path', async (url) => {
    const { app } = api({ accessLog: false, apiKeys: KEYS });
    const r = await app.inject({ method: url.endsWith('echo') ? 'POST' : 'GET', url, headers: { 'content-type': 'application/json' }, ...(url.endsWith('echo') ? { payload: '{"message":"hi"}' } : {}) });
    expect([401, 404]).toContain(r.statusCode);
    if (r.statusCode === 404) expect(r.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    else expect(r.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const keyed = await app.inject({ method: url.endsWith('echo') ? 'POST' : 'GET', url, headers: { 'content-type': 'application/json', 'x-api-key': 'sk_billing_0123456789' }, ...(url.endsWith('echo') ? { payload: '{"message":"hi"}' } : {}) });
    expect(keyed.statusCode).not.toBe(401);
  });

  it('accepts a listed key as x-api-key or as a bearer token', async () => {
    const { app } = api({ accessLog: false, apiKeys: KEYS });
    expect((await app.inject(echo({ 'x-api-key': 'sk_billing_0123456789' }))).statusCode).toBe(200);
    expect((await app.inject(echo({ authorization: 'Bearer sk_reports_0123456789' }))).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/workers', headers: { 'x-api-key': 'sk_billing_0123456789' } })).statusCode).toBe(200);
  });

  it('documents the keys and their 401 in the OpenAPI document only when keys are required', async () => {
    const withKeys = (await api({ accessLog: false, apiKeys: KEYS }).app.inject({ method: 'GET', url: '/docs/json' })).json() as Record<string, unknown>;
    expect(JSON.stringify(withKeys)).toContain('"x-api-key"');
    expect(JSON.stringify(withKeys)).toContain('"401"');
    const open = (await api({ accessLog: false }).app.inject({ method: 'GET', url: '/docs/json' })).json() as Record<string, unknown>;
    expect(JSON.stringify(open)).not.toContain('"401"');
  });
});

describe('gateway edge: rate limit', () => {
  it('answers 429 RATE_LIMITED with retry-after once a client is over its rate, per client', async () => {
    const { app } = api({ accessLog: false, apiKeys: KEYS, rateLimitPerSecond: 5 });
    const billing = { 'x-api-key': 'sk_billing_0123456789' };
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await app.inject(echo(billing))).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const over = await app.inject(echo(billing));
    expect(over.json()).toMatchObject({ error: { code: 'RATE_LIMITED', retryable: true } });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(0);
    // Another key has its own allowance.
    expect((await app.inject(echo({ 'x-api-key': 'sk_reports_0123456789' }))).statusCode).toBe(200);
  });

  it('keys on the client address without API keys, and is off unless configured', async () => {
    const limited = api({ accessLog: false, rateLimitPerSecond: 2 }).app;
    const from = (ip: string) => ({ ...echo(), remoteAddress: ip });
    expect([(await limited.inject(from('10.0.0.1'))).statusCode, (await limited.inject(from('10.0.0.1'))).statusCode, (await limited.inject(from('10.0.0.1'))).statusCode]).toEqual([200, 200, 429]);
    expect((await limited.inject(from('10.0.0.2'))).statusCode).toBe(200);
    const open = api({ accessLog: false }).app;
    for (let i = 0; i < 50; i++) expect((await open.inject(echo())).statusCode).toBe(200);
  });
});

describe('gateway edge: CORS', () => {
  const preflight = (origin: string) => ({
    method: 'OPTIONS' as const,
    url: '/v1/services/sample/echo',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });

  it('sends no CORS headers unless CORS_ORIGINS is set', async () => {
    const { app } = api({ accessLog: false });
    const r = await app.inject(echo({ origin: 'https://app.example.com' }));
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect((await app.inject(preflight('https://app.example.com'))).headers['access-control-allow-origin']).toBeUndefined();
  });

  // Found by the fuzzer (libs/fuzz): @fastify/cors answered these with its own text body.
  it.each([{}, { origin: 'https://app.example.com' }, { 'access-control-request-method': 'POST' }, { origin: '', 'access-control-request-method': 'POST' }])(
    'refuses an OPTIONS request that is no full preflight (%j) with the BAD_REQUEST envelope',
    async (headers) => {
      const { app } = api({ accessLog: false, corsOrigins: ['https://app.example.com'] });
      for (const url of ['/v1/services/sample/echo', '/docs', '/nosuch']) {
        const r = await app.inject({ method: 'OPTIONS', url, headers });
        expect(r.statusCode).toBe(400);
        expect(r.json()).toMatchObject({ error: { code: 'BAD_REQUEST', retryable: false } });
      }
    },
  );

  it('answers a preflight without an API key when keys are required (browsers send none with it), and still refuses the call', async () => {
    const { app } = api({ accessLog: false, apiKeys: KEYS, corsOrigins: ['https://app.example.com'] });
    const pre = await app.inject(preflight('https://app.example.com'));
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(String(pre.headers['access-control-allow-headers'])).toContain('x-api-key');
    const call = await app.inject(echo({ origin: 'https://app.example.com' }));
    expect(call.statusCode).toBe(401);
    expect(call.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect((await app.inject({ method: 'OPTIONS', url: '/v1/workers' })).statusCode).toBe(400);
  });

  it('allows exactly the configured origins', async () => {
    const { app } = api({ accessLog: false, corsOrigins: ['https://app.example.com'] });
    const ok = await app.inject(preflight('https://app.example.com'));
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect((await app.inject(echo({ origin: 'https://app.example.com' }))).headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect((await app.inject(preflight('https://evil.example.com'))).headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('gateway edge: access log', () => {
  it('writes one info line per request with the request id, status and duration', async () => {
    const { app, lines } = api({ accessLog: true });
    await app.inject(echo({ 'x-request-id': 'req-1' }));
    await app.inject({ method: 'GET', url: '/nope' });
    await app.inject({ ...echo(), payload: '{nope' });
    const access = lines.filter((l) => l.msg === 'request');
    expect(access.map((l) => [l.reqId, l.status, l.level, l.component])).toEqual([
      ['req-1', 200, 30, 'access'],
      [expect.any(String), 404, 30, 'access'],
      [expect.any(String), 400, 30, 'access'],
    ]);
    expect(access[0]).toMatchObject({ method: 'POST', url: '/v1/services/sample/echo', worker: 'w1' });
    for (const l of access) expect(l.durationMs).toEqual(expect.any(Number));
  });

  it('is silent with ACCESS_LOG=false', async () => {
    const { app, lines } = api({ accessLog: false });
    await app.inject(echo());
    expect(lines.filter((l) => l.msg === 'request')).toEqual([]);
  });
});

describe('gateway edge: configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-keys-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const parse = (vars: Record<string, string>) => parseConfig({ API_KEYS_FILE: ApiKeysFile, CORS_ORIGINS: CorsOrigins }, vars);

  it('reads API_KEYS_FILE into digests by name', () => {
    const r = parse({ API_KEYS_FILE: file('ok.json', JSON.stringify({ keys: [{ name: 'billing', sha256: sha('k') }] })) });
    expect(r.ok && [...r.config.API_KEYS_FILE!]).toEqual([[sha('k'), 'billing']]);
  });

  it.each([
    ['a missing file', join(dir, 'absent.json'), 'ENOENT'],
    ['not JSON', 'bad.json', 'expected JSON'],
    ['a wrong shape', 'shape.json', 'sha256'],
    ['no keys', 'empty.json', 'at least one key'],
  ])('names API_KEYS_FILE and the reason for %s', (_what, name, reason) => {
    const contents: Record<string, string> = {
      'bad.json': '{nope',
      'shape.json': JSON.stringify({ keys: [{ name: 'x', sha256: 'not-hex' }] }),
      'empty.json': JSON.stringify({ keys: [] }),
    };
    const path = contents[name] === undefined ? name : file(name, contents[name]);
    const r = parse({ API_KEYS_FILE: path });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues[0]!.variable).toBe('API_KEYS_FILE');
      expect(r.issues[0]!.expected).toContain(reason);
    }
  });

  it('takes origins or *, and names CORS_ORIGINS on anything else', () => {
    const r = parse({ CORS_ORIGINS: 'https://a.example.com, http://localhost:3000' });
    expect(r.ok && r.config.CORS_ORIGINS).toEqual(['https://a.example.com', 'http://localhost:3000']);
    for (const bad of ['ftp://x', 'https://a.example.com/path', 'javascript:alert(1)']) {
      const b = parse({ CORS_ORIGINS: bad });
      expect(b.ok).toBe(false);
      if (!b.ok) expect(b.issues[0]!.variable).toBe('CORS_ORIGINS');
    }
  });
});
