import { afterEach, describe, expect, it } from 'vitest';
import { ErrorEnvelope } from '@synod/protocol';
import { createMetricsRegistry, createRootLogger, startOpsServer, type OpsServer } from '../src/index.js';

let ops: OpsServer | undefined;
afterEach(async () => {
  await ops?.close();
  ops = undefined;
});

const start = (checks: { name: string; ok: () => boolean }[] = []) =>
  startOpsServer({
    port: 0,
    host: '127.0.0.1',
    checks,
    registry: createMetricsRegistry({ service: 'test', instance: 'test' }),
    log: createRootLogger({ service: 'test', instance: 'test', level: 'silent' }),
  });

describe('the ops server', () => {
  it('lists its routes for the ready line, HEAD routes included', async () => {
    ops = await start();
    expect(ops.info).toEqual({ server: 'ops', port: ops.port, routes: ['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz', 'GET /metrics', 'HEAD /metrics'] });
  });

  // Found by the fuzzer (libs/fuzz): a path that is not valid percent-encoding answered fastify's
  // own `{ statusCode, code: 'FST_ERR_BAD_URL', ... }` body instead of the envelope.
  it.each(['/healthz%', '/%E0%A4%A', '/metrics%ZZ'])('answers a malformed path %s with the BAD_REQUEST envelope', async (path) => {
    ops = await start();
    const res = await fetch(`http://127.0.0.1:${ops.port}${path}`);
    expect(res.status).toBe(400);
    expect(ErrorEnvelope.parse(await res.json()).error).toMatchObject({ code: 'BAD_REQUEST', retryable: false });
  });

  it('answers an unknown route with the NOT_FOUND envelope', async () => {
    ops = await start();
    const res = await fetch(`http://127.0.0.1:${ops.port}/nope`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(404);
    expect(ErrorEnvelope.parse(await res.json()).error).toMatchObject({ code: 'NOT_FOUND', retryable: false });
  });
});

describe('the ops server refuses bodies it does not read', () => {
  it('a body past its limit on an unknown route gets the envelope', async () => {
    ops = await start();
    const res = await fetch(`http://127.0.0.1:${ops.port}/nope`, { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(4096) }), headers: { 'content-type': 'application/json' } });
    const body = ErrorEnvelope.parse(await res.json());
    expect([404, 413]).toContain(res.status);
    expect(body.error.code).toBe(res.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'NOT_FOUND');
  });
});

describe('readiness', () => {
  it('answers 200 with the checks when every check passes', async () => {
    ops = await start([{ name: 'nats', ok: () => true }]);
    const res = await fetch(`http://127.0.0.1:${ops.port}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { nats: true } });
  });

  // Found by the fuzzer (libs/fuzz): the 503 carried `{ status, checks }` only, unlike every other error answer.
  it('answers 503 with the UNAVAILABLE envelope naming the failing checks', async () => {
    ops = await start([
      { name: 'nats', ok: () => true },
      { name: 'raft', ok: () => false },
    ]);
    const res = await fetch(`http://127.0.0.1:${ops.port}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Record<string, unknown>;
    expect(ErrorEnvelope.parse(body).error).toMatchObject({ code: 'UNAVAILABLE', message: 'not ready: raft', retryable: true, details: { checks: { nats: true, raft: false } } });
    expect(body).toMatchObject({ status: 'not ready', checks: { nats: true, raft: false } });
  });
});
