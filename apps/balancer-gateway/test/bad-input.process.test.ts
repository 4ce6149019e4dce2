import { request } from 'node:http';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { AppProcess, appScript, metricSamples } from '@synod/testkit';
import { post, Stack, waitForWorkers, workers } from './stack.js';

/** fetch refuses a GET with a body; node:http sends one. */
function rawHttp(base: string, method: string, path: string, body: string, contentType: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_BODY_BYTES = 4096;

/** Garbage, wrong types and oversized bodies on every route and subject; the processes keep serving. */
describe('bad input never breaks the gateway or the workers', () => {
  let stack: Stack;
  let gw: Awaited<ReturnType<Stack['gateway']>>;
  let worker: Awaited<ReturnType<Stack['worker']>>;
  let nc: NatsConnection;

  beforeAll(async () => {
    stack = await Stack.start();
    worker = await stack.worker({ WORKER_ID: 'w1', HTTP_PORT: '0', MAX_REQUEST_BYTES: String(MAX_BODY_BYTES) });
    gw = await stack.gateway({ HTTP_PORT: '0', MAX_BODY_BYTES: String(MAX_BODY_BYTES), REQUEST_TIMEOUT_MS: '5000' });
    await waitForWorkers(gw.url, ['w1']);
    nc = await connect({ servers: stack.nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  async function stillServing(): Promise<void> {
    const r = await post(gw.url, '/v1/services/sample/echo', { message: 'ok' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ message: 'ok', worker: 'w1' });
    expect(gw.app.running && worker.app.running).toBe(true);
  }

  const route = '/v1/services/sample/echo';
  it.each([
    ['garbage JSON', route, '{"message": nope', {}, 400, 'BAD_REQUEST', /not valid JSON/],
    ['a wrong type', route, { message: 42 }, {}, 400, 'BAD_REQUEST', /expected string/],
    ['a JSON array', route, [1, 2, 3], {}, 400, 'BAD_REQUEST', /expected object/],
    ['a bare JSON string', route, '"hello"', {}, 400, 'BAD_REQUEST', /expected object/],
    ['an empty JSON body', route, '', {}, 400, 'BAD_REQUEST', /empty/],
    ['a body over the limit', route, { message: 'x'.repeat(MAX_BODY_BYTES) }, {}, 413, 'PAYLOAD_TOO_LARGE', /too large/],
    ['a body that is not JSON', route, 'message=hi', { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'UNSUPPORTED_MEDIA_TYPE', /must be JSON/],
    ['a service name with a dot', '/v1/services/a.b/echo', { message: 'x' }, {}, 400, 'BAD_REQUEST', /service name/],
    ['a reserved endpoint name', '/v1/services/sample/_ping', { message: 'x' }, {}, 400, 'BAD_REQUEST', /endpoint name/],
    ['an endpoint the service lacks', '/v1/services/sample/nope', { message: 'x' }, {}, 404, 'UNKNOWN_ENDPOINT', /no endpoint/],
    ['a service never announced', '/v1/services/ghost/echo', { message: 'x' }, {}, 404, 'UNKNOWN_SERVICE', /ghost/],
    ['a bad timeout header', route, { message: 'x' }, { 'x-synod-timeout-ms': 'soon' }, 400, 'BAD_REQUEST', /x-synod-timeout-ms/],
    ['a hexadecimal timeout header', route, { message: 'x' }, { 'x-synod-timeout-ms': '0x10' }, 400, 'BAD_REQUEST', /x-synod-timeout-ms/],
    ['a timeout header with an exponent', route, { message: 'x' }, { 'x-synod-timeout-ms': '1e1' }, 400, 'BAD_REQUEST', /x-synod-timeout-ms/],
    ['an unknown route', '/v2/whatever', { message: 'x' }, {}, 404, 'NOT_FOUND', /no route/],
  ] as const)('POST with %s gets the catalogued status and envelope', async (_what, path, body, headers, status, code, message) => {
    const r = await post(gw.url, path, body, headers);
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ error: { code, retryable: false } });
    expect((r.body as { error: { message: string } }).error.message).toMatch(message);
    await stillServing();
  });

  it('a request over its deadline answers 504 and the gateway keeps serving', async () => {
    const r = await post(gw.url, '/v1/services/sample/sleep', { ms: 3000 }, { 'x-synod-timeout-ms': '100' });
    expect(r.status).toBe(504);
    expect(r.body).toMatchObject({ error: { code: 'TIMEOUT', retryable: true } });
    expect(r.worker).toBe('w1');
    await stillServing();
  });

  it('GET /v1/workers ignores a garbage or oversized body; other methods get the envelope', async () => {
    // A GET body has no meaning (RFC 9110): garbage or oversized, it is ignored, not parsed.
    for (const body of ['{oops', JSON.stringify({ pad: 'x'.repeat(MAX_BODY_BYTES * 4) })]) {
      const r = await rawHttp(gw.url, 'GET', '/v1/workers', body, 'application/json');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).workers.map((w: { id: string }) => w.id)).toEqual(['w1']);
    }
    const r = await fetch(`${gw.url}/v1/workers`, { method: 'DELETE' });
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await workers(gw.url)).map((w) => w.id)).toEqual(['w1']);
  });

  it('the ops routes answer, and garbage on them gets the envelope', async () => {
    for (const port of [gw.ready.httpPort, worker.ready.httpPort]) {
      const base = `http://127.0.0.1:${String(port)}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready' });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('process_cpu_user_seconds_total');
      const garbage = await fetch(`${base}/healthz`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
      expect(garbage.status).toBeGreaterThanOrEqual(400);
      expect(garbage.status).toBeLessThan(500);
      const big = await fetch(`${base}/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(100_000) }) });
      expect(big.status).toBeGreaterThanOrEqual(400);
      expect(big.status).toBeLessThan(500);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    }
    const gwMetrics = await (await fetch(`http://127.0.0.1:${String(gw.ready.httpPort)}/metrics`)).text();
    // `service` is the routed service and `app` the process's app; `instance` is Prometheus's to add.
    const routed = metricSamples(gwMetrics, 'synod_gateway_requests_total').filter((x) => x.labels.status === '200');
    expect(routed.length).toBeGreaterThan(0);
    for (const x of routed) expect(x.labels).toEqual({ service: 'sample', endpoint: 'echo', status: '200', app: 'balancer-gateway' });
    expect(gwMetrics).not.toMatch(/[{,]instance="/);
    expect(metricSamples(gwMetrics, 'synod_gateway_workers_ejected')).toEqual([{ labels: { service: 'sample', app: 'balancer-gateway' }, value: 0 }]);
    const workerMetrics = await (await fetch(`http://127.0.0.1:${String(worker.ready.httpPort)}/metrics`)).text();
    expect(metricSamples(workerMetrics, 'synod_worker_jobs_total').filter((x) => x.labels.endpoint === 'echo' && x.labels.outcome === 'ok')).toEqual([
      { labels: { endpoint: 'echo', outcome: 'ok', code: '', app: 'sample-worker' }, value: expect.any(Number) as number },
    ]);
  });

  it('requests naming services and endpoints nobody serves add no metric series: they count under _unknown', async () => {
    for (let i = 0; i < 300; i++) {
      const r = await post(gw.url, `/v1/services/rnd-${i}-${Math.random().toString(36).slice(2)}/x${i}`, { message: 'x' });
      expect(r.status).toBe(404);
    }
    expect((await post(gw.url, '/v1/services/sample/nope', { message: 'x' })).status).toBe(404);
    const text = await (await fetch(`http://127.0.0.1:${String(gw.ready.httpPort)}/metrics`)).text();
    const series = text.split('\n').filter((l) => l.startsWith('synod_gateway_requests_total{'));
    expect(series.filter((l) => l.includes('rnd-') || l.includes('endpoint="nope"'))).toEqual([]);
    expect(series.some((l) => l.includes('service="_unknown"') && l.includes('status="404"'))).toBe(true);
    expect(series.some((l) => l.includes('service="sample"') && l.includes('endpoint="_unknown"'))).toBe(true);
    expect(series.some((l) => l.includes('service="sample"') && l.includes('endpoint="echo"'))).toBe(true);
    await stillServing();
  });

  it('garbage, wrong types and oversized payloads straight on the worker subject get the envelope', async () => {
    const subject = subjects.workerEndpoint(stack.namespace, 'sample', 'w1', 'hash');
    const ask = async (data: Uint8Array): Promise<unknown> => JSON.parse(dec.decode((await nc.request(subject, data, { timeout: 5000 })).data));
    expect(await ask(enc.encode('\u0000\u0001garbage'))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(await ask(enc.encode('{"rounds":"many"}'))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(await ask(enc.encode('{"rounds":0}'))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(await ask(new Uint8Array(MAX_BODY_BYTES + 1).fill(0x20))).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(await ask(enc.encode('{"rounds":2}'))).toMatchObject({ result: { rounds: 2, worker: 'w1' } });
    await stillServing();
  });

  it('garbage on the registry subjects is ignored (and answered when a reply is asked for)', async () => {
    const ns = stack.namespace;
    nc.publish(subjects.registryAnnounce(ns), enc.encode('not json'));
    nc.publish(subjects.registryAnnounce(ns), enc.encode(JSON.stringify({ type: 'announce', v: 1, id: 'evil', service: 'sample', weight: -5 })));
    nc.publish(subjects.registryDeregister(ns), enc.encode(JSON.stringify({ type: 'announce', v: 1, id: 'x' })));
    nc.publish(subjects.registryDiscover(ns), enc.encode('{"type":"discover"}'));
    nc.publish(subjects.registryAnnounce(ns), new Uint8Array(200_000).fill(0x7b));
    const reply = await nc.request(subjects.registryDeregister(ns), enc.encode('[]'), { timeout: 5000 });
    expect(JSON.parse(dec.decode(reply.data))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    await nc.flush();
    expect((await workers(gw.url)).map((w) => w.id)).toEqual(['w1']);
    await stillServing();
  });
});

describe('bad configuration exits with status 2 naming the variable', () => {
  it.each([
    ['balancer-gateway', { PORT: 'abc' }, 'PORT', 'expected an integer from 0 to 65535'],
    ['balancer-gateway', { LB_STRATEGY: 'fastest' }, 'LB_STRATEGY', 'expected one of random, round-robin, weighted'],
    ['balancer-gateway', { WORKER_EXPIRY_MS: '-3' }, 'WORKER_EXPIRY_MS', 'expected an integer'],
    ['sample-worker', { WORKER_WEIGHT: '-1' }, 'WORKER_WEIGHT', 'expected an integer from 0 to 1000'],
    ['sample-worker', { WORKER_ID: 'has.dot' }, 'WORKER_ID', 'expected a worker id'],
    ['sample-worker', { NATS_URL: 'http://example:80' }, 'NATS_URL', 'expected comma-separated NATS URLs'],
    ['sample-worker', { SYNOD_NAMESPACE: 'a b' }, 'SYNOD_NAMESPACE', 'expected a namespace'],
    ['sample-worker', { HTTP_PORT: '99999' }, 'HTTP_PORT', 'expected an integer from 0 to 65535'],
  ])('%s with %o', async (app, env, variable, expected) => {
    const r = await AppProcess.runToExit({ script: appScript(app), env: { NATS_URL: 'nats://127.0.0.1:1', ...env } });
    expect(r.code).toBe(2);
    const stderr = r.app.stderr.join('\n');
    expect(stderr).toContain(`${variable}: ${expected}`);
    const line = r.app.lines.find((l) => l.msg === 'invalid configuration');
    expect(line).toMatchObject({ issues: [{ variable }] });
  });
});
