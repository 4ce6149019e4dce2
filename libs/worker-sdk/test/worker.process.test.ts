import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RegistryMessage, subjects, type RegistryMessage as Msg, type WorkerAnnounce } from '@synod/protocol';
import { busRequest, requestHeaders } from '@synod/service-kit';
import { AppProcess, startNats, uniqueNamespace, workspaceRoot, type NatsFixture } from '@synod/testkit';
import { defineWorker } from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const fixtureDir = join(import.meta.dirname, 'fixture');
const script = join(fixtureDir, 'dist', 'main.js');

/** A worker defined with the SDK (test/fixture), run as a real process on a real NATS server. */
describe('a worker built on the SDK', () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    execFileSync(process.execPath, [join(workspaceRoot, 'tools', 'build-app.mjs'), fixtureDir], { stdio: 'inherit' });
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop(5000)));
    await nc?.close();
    await nats?.stop();
  });

  async function start(ns: string, env: Record<string, string> = {}) {
    const started = await AppProcess.start({ script, name: `calc ${env.WORKER_ID ?? ''}`, env: { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, ...env } });
    apps.push(started.app);
    return started;
  }

  function record(ns: string): Msg[] {
    const seen: Msg[] = [];
    nc.subscribe(subjects.registryAll(ns), { callback: (_e, m) => void seen.push(RegistryMessage.parse(JSON.parse(dec.decode(m.data)))) });
    return seen;
  }

  const call = (ns: string, id: string, endpoint: string, body: unknown, timeoutMs = 5000) =>
    busRequest(nc, subjects.workerEndpoint(ns, 'calc', id, endpoint), body, { timeoutMs, requestId: `${endpoint}-${Math.random()}` });

  async function until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise((r) => setTimeout(r, 10));
  }

  it('announces its version, idempotent endpoints and limit; heartbeats carry in-flight, counts and EWMA; answers a discover', async () => {
    const ns = uniqueNamespace('sdk');
    const seen = record(ns);
    await nc.flush();
    const { ready } = await start(ns, { WORKER_ID: 'c1', WORKER_WEIGHT: '4', HEARTBEAT_INTERVAL_MS: '100', WORKER_MAX_CONCURRENCY: '8', CALC_OFFSET: '10' });
    expect(ready).toMatchObject({ id: 'c1', serves: 'calc', weight: 4, endpoints: ['add', 'wait', 'broken'], idempotent: ['add'], version: '1.2.3', maxConcurrency: 8 });
    await until(() => seen.length >= 1);
    expect(seen[0]).toEqual({
      type: 'announce',
      v: 1,
      id: 'c1',
      service: 'calc',
      version: '1.2.3',
      weight: 4,
      endpoints: ['add', 'wait', 'broken'],
      idempotent: ['add'],
      maxConcurrency: 8,
      heartbeatIntervalMs: 100,
      load: { inFlight: 0, served: 0, errors: 0 },
    });
    for (let i = 0; i < 5; i++) expect(await call(ns, 'c1', 'add', { a: i, b: 1 })).toEqual({ sum: i + 11, worker: 'c1' });
    await expect(call(ns, 'c1', 'add', { a: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    // Two jobs held in flight show up in a heartbeat.
    const held = [call(ns, 'c1', 'wait', { ms: 1500 }), call(ns, 'c1', 'wait', { ms: 1500 })];
    const heartbeats = () => seen.filter((m): m is WorkerAnnounce => m.type === 'heartbeat');
    await until(() => heartbeats().some((h) => h.load.inFlight === 2));
    const busy = heartbeats().find((h) => h.load.inFlight === 2)!;
    expect(busy.load).toMatchObject({ served: 6, errors: 1 });
    expect(busy.load.ewmaMs).toBeGreaterThanOrEqual(0);
    await Promise.all(held);
    await until(() => heartbeats().some((h) => h.load.served === 8 && h.load.inFlight === 0));
    // The two 1.5 s jobs pull the average up from the sub-millisecond adds.
    expect(heartbeats().at(-1)!.load.ewmaMs).toBeGreaterThan(100);

    const announces = seen.filter((m) => m.type === 'announce').length;
    nc.publish(subjects.registryDiscover(ns), enc.encode(JSON.stringify({ type: 'discover', v: 1, from: 'test' })));
    await until(() => seen.filter((m) => m.type === 'announce').length > announces);
  });

  it('answers invalid input and an output that fails its schema with the envelope, and keeps serving', async () => {
    const ns = uniqueNamespace('sdk');
    const { app } = await start(ns, { WORKER_ID: 'c2' });
    await expect(call(ns, 'c2', 'add', { a: 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/invalid request/) });
    const raw = await nc.request(subjects.workerEndpoint(ns, 'calc', 'c2', 'add'), enc.encode('{nope'), { timeout: 5000 });
    expect(JSON.parse(dec.decode(raw.data))).toMatchObject({ error: { code: 'BAD_REQUEST', retryable: false } });
    await expect(call(ns, 'c2', 'broken', {})).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/broken returned a result that fails its output schema/),
    });
    // The log line comes on the child's stdout, which may be read after its reply arrived.
    expect(await app.waitForLine((l) => l.msg === 'handler failed', 5000)).toBeDefined();
    expect(await call(ns, 'c2', 'add', { a: 1, b: 2 })).toEqual({ sum: 3, worker: 'c2' });
  });

  it('answers a ping on its ping subject with its id and load', async () => {
    const ns = uniqueNamespace('sdk');
    await start(ns, { WORKER_ID: 'c3' });
    await call(ns, 'c3', 'add', { a: 1, b: 1 });
    const pong = await busRequest(nc, subjects.workerPing(ns, 'calc', 'c3'), {}, { timeoutMs: 5000, requestId: 'ping' });
    expect(pong).toMatchObject({ id: 'c3', service: 'calc', load: { inFlight: 0, served: 1, errors: 0 } });
    // A ping with no body at all is answered too.
    const raw = await nc.request(subjects.workerPing(ns, 'calc', 'c3'), new Uint8Array(0), { timeout: 5000 });
    expect(JSON.parse(dec.decode(raw.data))).toMatchObject({ result: { id: 'c3' } });
  });

  it('aborts a handler at the deadline from the synod-timeout-ms header: DEADLINE_EXCEEDED, slot freed', async () => {
    const ns = uniqueNamespace('sdk');
    await start(ns, { WORKER_ID: 'c4', WORKER_MAX_CONCURRENCY: '1' });
    // The worker gets a 200 ms budget and aborts; the client waits longer so it sees the answer.
    const h = requestHeaders('dl', 200);
    const reply = await nc.request(subjects.workerEndpoint(ns, 'calc', 'c4', 'wait'), enc.encode('{"ms":30000}'), { timeout: 10_000, headers: h });
    expect(JSON.parse(dec.decode(reply.data))).toMatchObject({ error: { code: 'DEADLINE_EXCEEDED', retryable: false } });
    // Its slot is free again: the limit of 1 admits the next job.
    expect(await call(ns, 'c4', 'add', { a: 2, b: 2 })).toEqual({ sum: 4, worker: 'c4' });
  });

  it('refuses jobs beyond its concurrency limit with OVERLOADED at once, and never runs more than the limit', async () => {
    const ns = uniqueNamespace('sdk');
    const LIMIT = 3;
    const seen = record(ns);
    await nc.flush();
    await start(ns, { WORKER_ID: 'c5', WORKER_MAX_CONCURRENCY: String(LIMIT), HEARTBEAT_INTERVAL_MS: '50' });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => call(ns, 'c5', 'wait', { ms: 2000 }, 10_000)));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(LIMIT);
    expect(refused).toHaveLength(10 - LIMIT);
    for (const r of refused) expect(r.reason).toMatchObject({ code: 'OVERLOADED', retryable: true, details: { maxConcurrency: LIMIT } });
    const loads = seen.filter((m): m is WorkerAnnounce => m.type !== 'deregister' && m.type !== 'discover').map((m) => m.load.inFlight);
    expect(Math.max(...loads)).toBe(LIMIT);
    // Refusals are counted as answered errors.
    const pong = (await busRequest(nc, subjects.workerPing(ns, 'calc', 'c5'), {}, { timeoutMs: 5000, requestId: 'p' })) as { load: unknown };
    expect(pong.load).toMatchObject({ inFlight: 0, served: 10, errors: 10 - LIMIT });
  });

  it('on SIGTERM deregisters, finishes in-flight jobs, runs teardown and exits 0; then nobody answers', async () => {
    const ns = uniqueNamespace('sdk');
    const seen = record(ns);
    await nc.flush();
    const { app } = await start(ns, { WORKER_ID: 'c6' });
    const jobs = Array.from({ length: 5 }, (_, i) => call(ns, 'c6', 'wait', { ms: 800 + i }, 10_000));
    const pinged = async () =>
      ((await busRequest(nc, subjects.workerPing(ns, 'calc', 'c6'), {}, { timeoutMs: 5000, requestId: 'p' })) as { load: { inFlight: number } }).load.inFlight;
    while ((await pinged()) < 5) await new Promise((r) => setTimeout(r, 10));
    app.signal('SIGTERM');
    expect(await Promise.all(jobs)).toEqual([800, 801, 802, 803, 804].map((ms) => ({ waitedMs: ms })));
    expect((await app.exited).code).toBe(0);
    expect(app.lines.find((l) => l.msg === 'endpoints drained')).toMatchObject({ inFlightAtStop: 5, finished: true });
    const drained = app.lines.findIndex((l) => l.msg === 'endpoints drained');
    expect(app.lines.findIndex((l) => l.msg === 'calc teardown')).toBeGreaterThan(drained);
    await nc.flush();
    expect(seen.at(-1)).toEqual({ type: 'deregister', v: 1, id: 'c6', service: 'calc' });
    await expect(call(ns, 'c6', 'add', { a: 1, b: 1 }, 1000)).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    await expect(busRequest(nc, subjects.workerPing(ns, 'calc', 'c6'), {}, { timeoutMs: 1000, requestId: 'p' })).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
  });

  it('runs inside a process that owns the connection: start(), setWeight(), stop()', async () => {
    const ns = uniqueNamespace('sdk');
    const seen = record(ns);
    await nc.flush();
    const greeter = defineWorker({
      service: 'greeter',
      endpoints: { hello: { input: z.object({ name: z.string() }), output: z.object({ text: z.string() }), handler: ({ name }) => ({ text: `hello ${name}` }) } },
    });
    const parsed = greeter.parseEnv({ SYNOD_NAMESPACE: ns, WORKER_ID: 'g1', HEARTBEAT_INTERVAL_MS: '60000' });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const worker = await greeter.start({ nc, log: pino({ level: 'silent' }), config: parsed.config });
    expect(worker.id).toBe('g1');
    expect(await busRequest(nc, subjects.workerEndpoint(ns, 'greeter', 'g1', 'hello'), { name: 'x' }, { timeoutMs: 5000, requestId: 'h' })).toEqual({ text: 'hello x' });
    worker.setWeight(9);
    expect(() => worker.setWeight(1001)).toThrow(RangeError);
    await until(() => seen.some((m) => m.type === 'heartbeat' && m.weight === 9));
    expect(await worker.stop(1000)).toEqual({ inFlightAtStop: 0, finished: true });
    await nc.flush();
    expect(seen.map((m) => m.type)).toEqual(['announce', 'heartbeat', 'deregister']);
  });

  it.each([
    [{ WORKER_MAX_CONCURRENCY: '0' }, 'WORKER_MAX_CONCURRENCY', 'expected an integer from 1 to 100000'],
    [{ WORKER_WEIGHT: 'heavy' }, 'WORKER_WEIGHT', 'expected an integer from 0 to 1000'],
    [{ WORKER_SERVICE: 'a.b' }, 'WORKER_SERVICE', 'expected a service name'],
    [{ HEARTBEAT_INTERVAL_MS: '10' }, 'HEARTBEAT_INTERVAL_MS', 'expected an integer from 50 to 60000'],
    [{ CALC_OFFSET: '-1' }, 'CALC_OFFSET', 'expected an integer from 0 to 100'],
  ])('bad env %o exits 2 naming %s', async (env, variable, expected) => {
    const r = await AppProcess.runToExit({ script, env: { NATS_URL: 'nats://127.0.0.1:1', ...env } });
    expect(r.code).toBe(2);
    expect(r.app.stderr.join('\n')).toContain(`${variable}: ${expected}`);
    expect(r.app.lines.find((l) => l.msg === 'invalid configuration')).toMatchObject({ issues: [{ variable }] });
  });
});
