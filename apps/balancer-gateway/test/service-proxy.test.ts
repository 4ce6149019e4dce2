import { describe, expect, it } from 'vitest';
import { SynodError, type WorkerAnnounce } from '@synod/protocol';
import { WorkerRegistry, type RouteRequest, type RouteResult, type Router } from '@synod/routing';
import { createMetricsRegistry, createRootLogger, LabelBound } from '@synod/service-kit';
import { buildApi } from '../src/http-api.js';

const log = createRootLogger({ service: 'gw', instance: 'proxy-test', level: 'silent' });
const enc = new TextEncoder();

function announce(over: Partial<WorkerAnnounce> = {}): WorkerAnnounce {
  return { type: 'announce', v: 1, id: 'w1', service: 'sample', weight: 1, endpoints: ['echo'], heartbeatIntervalMs: 1000, load: { inFlight: 0, served: 0, errors: 0 }, ...over };
}

/** The public API around a router that records what it was asked and answers `answer(req)`. */
function api(answer: (req: RouteRequest) => RouteResult = () => ({ ok: true, json: enc.encode('{"message":"hi","worker":"w1"}'), worker: 'w1', attempts: 1 }), over: { hashBodyField?: string[] } = {}) {
  const seen: RouteRequest[] = [];
  const router = {
    route: async (req: RouteRequest) => {
      seen.push(req);
      return answer(req);
    },
    strategyOf: () => 'weighted',
    answeredLatency: () => undefined,
    describe: () => ({ ejected: false }),
    pending: 0,
    pendingPeak: 0,
  } as unknown as Router;
  const registry = new WorkerRegistry(60_000);
  registry.upsert(announce(), Date.now());
  const metrics = createMetricsRegistry({ app: 'gw' });
  const app = buildApi({
    log,
    maxBodyBytes: 1024,
    proxy: { router, registry, requestTimeoutMs: 10_000, hashHeader: 'x-synod-key', metrics: { registry: metrics, bound: new LabelBound(metrics, 100) }, ...over },
    view: { registry, router },
    edge: { accessLog: false },
  });
  return { app, seen, metrics };
}

const post = (payload: string, headers: Record<string, string> = {}, url = '/v1/services/sample/echo') => ({
  method: 'POST' as const,
  url,
  headers: { 'content-type': 'application/json', ...headers },
  payload,
});

describe('service proxy plugin', () => {
  it('passes the body to the worker as the bytes the client sent, and the result back as the bytes the worker sent', async () => {
    const { app, seen } = api();
    // Not normalized: whitespace, key order and unicode escapes arrive as sent.
    const body = '{ "message" : "h\\u00e9",\n "z": 1, "a": [ ] }';
    const r = await app.inject(post(body, { 'x-request-id': 'req-7' }));
    expect(r.statusCode).toBe(200);
    expect(Buffer.from(seen[0]!.body).toString('utf8')).toBe(body);
    expect(r.body).toBe('{"message":"hi","worker":"w1"}');
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.headers['x-synod-worker']).toBe('w1');
    expect(r.headers['x-request-id']).toBe('req-7');
    expect(seen[0]).toMatchObject({ service: 'sample', endpoint: 'echo', requestId: 'req-7', timeoutMs: 10_000, clientDeadline: false });
  });

  it('leaves malformed JSON to the worker, and refuses an empty body itself', async () => {
    const { app, seen } = api((req) => ({ ok: false, error: new SynodError('BAD_REQUEST', `worker says: ${Buffer.from(req.body).toString()}`), worker: 'w1', attempts: 1 }));
    const bad = await app.inject(post('{"message": nope'));
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'worker says: {"message": nope' } });
    const empty = await app.inject(post(''));
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ error: { code: 'BAD_REQUEST', message: 'the JSON body is empty' } });
    expect(seen).toHaveLength(1);
  });

  it.each(['0x10', '1e1', '+5', '5.0', '05', '0', '-1', '', '1000000000', 'soon', '٣'])('refuses x-synod-timeout-ms: %j with 400 naming the header', async (value) => {
    const { app, seen } = api();
    const r = await app.inject(post('{}', { 'x-synod-timeout-ms': value }));
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ error: { code: 'BAD_REQUEST', retryable: false } });
    expect(r.json().error.message).toContain('x-synod-timeout-ms');
    expect(seen).toHaveLength(0);
  });

  it('takes a plain decimal x-synod-timeout-ms, capped at the gateway timeout', async () => {
    const { app, seen } = api();
    for (const [value, expected] of [['5', 5], ['9999', 9999], ['999999999', 10_000]] as const) {
      expect((await app.inject(post('{}', { 'x-synod-timeout-ms': value }))).statusCode).toBe(200);
      expect(seen.at(-1)).toMatchObject({ timeoutMs: expected, clientDeadline: expected < 10_000 });
    }
  });

  it('takes the routing key from the header, else from the configured body field', async () => {
    const { app, seen } = api(undefined, { hashBodyField: ['user', 'id'] });
    await app.inject(post('{"user":{"id":42}}', { 'x-synod-key': 'k-1' }));
    await app.inject(post('{"user":{"id":42}}'));
    await app.inject(post('{"user": nope'));
    expect(seen.map((r) => r.key)).toEqual(['k-1', '42', undefined]);
  });

  it('answers routing failures with their status and envelope, 503 with retry-after', async () => {
    const { app } = api(() => ({ ok: false, error: new SynodError('NO_WORKERS', 'none'), worker: undefined, attempts: 0 }));
    const r = await app.inject(post('{}'));
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.headers['x-synod-worker']).toBeUndefined();
    expect(r.json()).toMatchObject({ error: { code: 'NO_WORKERS', retryable: true } });
  });

  it('refuses a bad service or endpoint name with 400 naming which', async () => {
    const { app, seen } = api();
    const service = await app.inject(post('{}', {}, '/v1/services/a.b/echo'));
    expect(service.statusCode).toBe(400);
    expect(service.json().error.message).toMatch(/service name/);
    const endpoint = await app.inject(post('{}', {}, '/v1/services/sample/_ping'));
    expect(endpoint.json().error.message).toMatch(/endpoint name/);
    expect(seen).toHaveLength(0);
  });

  it('counts requests and their duration by service, endpoint and status, unknown names under _unknown', async () => {
    const { app, metrics } = api((req) =>
      req.service === 'sample' && req.endpoint === 'echo' ? { ok: true, json: enc.encode('{}'), worker: 'w1', attempts: 1 } : { ok: false, error: new SynodError('UNKNOWN_SERVICE', 'x'), worker: undefined, attempts: 0 },
    );
    for (let i = 0; i < 3; i++) await app.inject(post('{}'));
    await app.inject(post('{}', {}, '/v1/services/ghost-1/x'));
    await app.inject(post('{}', {}, '/v1/services/ghost-2/y'));
    await app.inject(post('{}', {}, '/v1/services/sample/nope'));
    const text = await metrics.metrics();
    const requests = text.split('\n').filter((l) => l.startsWith('synod_gateway_requests_total{'));
    expect(requests.find((l) => l.includes('service="sample"') && l.includes('endpoint="echo"') && l.includes('status="200"'))).toMatch(/ 3$/);
    expect(requests.find((l) => l.includes('service="_unknown"') && l.includes('endpoint="_unknown"'))).toMatch(/ 2$/);
    expect(requests.find((l) => l.includes('service="sample"') && l.includes('endpoint="_unknown"'))).toMatch(/ 1$/);
    expect(requests.some((l) => l.includes('ghost'))).toBe(false);
    expect(text).toMatch(/synod_gateway_request_duration_seconds_count\{[^}]*service="sample"[^}]*endpoint="echo"[^}]*\} 3/);
  });
});

describe('errors, views and docs plugins', () => {
  it('answers unknown routes, wrong media types and oversized bodies with the envelope', async () => {
    const { app } = api();
    expect((await app.inject({ method: 'GET', url: '/nope' })).json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const form = await app.inject(post('a=1', { 'content-type': 'application/x-www-form-urlencoded' }));
    expect([form.statusCode, form.json().error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const big = await app.inject(post(JSON.stringify({ pad: 'x'.repeat(2000) })));
    expect([big.statusCode, big.json().error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const plusJson = await app.inject(post('{}', { 'content-type': 'application/vnd.synod+json' }));
    expect(plusJson.statusCode).toBe(200);
  });

  it('lists workers and services', async () => {
    const { app } = api();
    expect((await app.inject({ method: 'GET', url: '/v1/workers' })).json().workers.map((w: { id: string }) => w.id)).toEqual(['w1']);
    expect((await app.inject({ method: 'GET', url: '/v1/services' })).json()).toEqual({
      services: [{ service: 'sample', strategy: 'weighted', workers: 1, ejected: 0, endpoints: ['echo'] }],
      pending: 0,
      pendingPeak: 0,
    });
  });

  it('serves the OpenAPI document and its page', async () => {
    const { app } = api();
    expect((await app.inject({ method: 'GET', url: '/docs/json' })).json()).toMatchObject({ openapi: '3.1.0' });
    const page = await app.inject({ method: 'GET', url: '/docs' });
    expect(page.headers['content-type']).toMatch(/text\/html/);
  });
});
