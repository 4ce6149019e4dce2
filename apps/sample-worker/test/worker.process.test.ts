import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryMessage, subjects, type RegistryMessage as Msg } from '@synod/protocol';
import { busRequest, requestHeaders } from '@synod/service-kit';
import { AppProcess, appScript, startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { seededRandom } from '../src/faults.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The worker alone on the bus: registry protocol and graceful drain, watched from a raw client. */
describe('sample-worker on the bus', () => {
  let nats: NatsFixture;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  async function startWorker(ns: string, env: Record<string, string>) {
    return AppProcess.start({ script: appScript('sample-worker'), env: { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, ...env } });
  }

  function recordRegistry(ns: string): Msg[] {
    const seen: Msg[] = [];
    nc.subscribe(subjects.registryAll(ns), {
      callback: (_err, msg) => {
        seen.push(RegistryMessage.parse(JSON.parse(dec.decode(msg.data))));
      },
    });
    return seen;
  }

  it('announces at start, heartbeats, answers a discover, and deregisters on SIGTERM', async () => {
    const ns = uniqueNamespace('sw');
    const seen = recordRegistry(ns);
    await nc.flush();
    const { app, ready } = await startWorker(ns, { WORKER_ID: 'w1', WORKER_WEIGHT: '7', HEARTBEAT_INTERVAL_MS: '100' });
    expect(ready).toMatchObject({ id: 'w1', serves: 'sample', weight: 7, endpoints: ['echo', 'hash', 'sleep'] });
    const until = async (pred: () => boolean) => {
      while (!pred()) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => seen.filter((m) => m.type === 'heartbeat').length >= 3);
    expect(seen[0]).toMatchObject({ type: 'announce', id: 'w1', service: 'sample', weight: 7, heartbeatIntervalMs: 100, idempotent: ['echo', 'hash', 'sleep'] });

    const before = seen.filter((m) => m.type === 'announce').length;
    nc.publish(subjects.registryDiscover(ns), enc.encode(JSON.stringify({ type: 'discover', v: 1, from: 'test' })));
    await until(() => seen.filter((m) => m.type === 'announce').length > before);

    app.signal('SIGTERM');
    expect((await app.exited).code).toBe(0);
    await nc.flush();
    const last = seen.at(-1);
    expect(last).toEqual({ type: 'deregister', v: 1, id: 'w1', service: 'sample' });
  });

  it('loses no in-flight job on SIGTERM and stops taking new ones', async () => {
    const ns = uniqueNamespace('sw');
    const { app, ready } = await startWorker(ns, { WORKER_ID: 'w2', HTTP_PORT: '0' });
    const inFlight = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${String(ready.httpPort)}/metrics`)).text();
      return Number(/^synod_worker_in_flight\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? -1);
    };
    const subject = subjects.workerEndpoint(ns, 'sample', 'w2', 'sleep');
    const jobs = Array.from({ length: 25 }, (_, i) => busRequest(nc, subject, { ms: 400 + i }, { timeoutMs: 10_000, requestId: `j${i}` }));
    // All 25 are being handled before the signal: the in-flight gauge shows them.
    while ((await inFlight()) < 25) await new Promise((r) => setTimeout(r, 10));
    app.signal('SIGTERM');
    const results = await Promise.all(jobs);
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => ({ sleptMs: 400 + i, worker: 'w2' })));
    expect((await app.exited).code).toBe(0);
    expect(app.lines.find((l) => l.msg === 'endpoints drained')).toMatchObject({ inFlightAtStop: 25, finished: true });
    await expect(busRequest(nc, subject, { ms: 1 }, { timeoutMs: 1000, requestId: 'late' })).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
  });

  it('ignores a malformed discover and keeps serving', async () => {
    const ns = uniqueNamespace('sw');
    const { app } = await startWorker(ns, { WORKER_ID: 'w3' });
    nc.publish(subjects.registryDiscover(ns), enc.encode('{garbage'));
    nc.publish(subjects.registryDiscover(ns), enc.encode(JSON.stringify({ type: 'discover', v: 99 })));
    const warn = await app.waitForLine((l) => l.msg === 'malformed discover messages ignored', 5000);
    expect(warn.level).toBe(40);
    const echo = await busRequest(nc, subjects.workerEndpoint(ns, 'sample', 'w3', 'echo'), { message: 'still here' }, { timeoutMs: 5000, requestId: 'e' });
    expect(echo).toEqual({ message: 'still here', worker: 'w3' });
    await app.stop();
  });

  // Found by the fuzzer (libs/fuzz): the hash ran its million rounds to the end, long after the deadline.
  it('a hash longer than its deadline answers DEADLINE_EXCEEDED, and the worker answers its ping right after', async () => {
    const ns = uniqueNamespace('sw');
    const { app } = await startWorker(ns, { WORKER_ID: 'w5' });
    // A 50 ms deadline, but the answer is awaited for long enough to see a million rounds finish.
    const msg = await nc.request(subjects.workerEndpoint(ns, 'sample', 'w5', 'hash'), enc.encode(JSON.stringify({ rounds: 1_000_000 })), { timeout: 30_000, headers: requestHeaders('h1', 50) });
    expect(JSON.parse(dec.decode(msg.data))).toMatchObject({ error: { code: 'DEADLINE_EXCEEDED', message: expect.stringMatching(/the deadline passed after \d+ of 1000000 rounds/) } });
    expect(await busRequest(nc, subjects.workerPing(ns, 'sample', 'w5'), {}, { timeoutMs: 1000, requestId: 'p1' })).toMatchObject({ id: 'w5' });
    await app.stop();
  });

  it('answers a ping on its ping subject', async () => {
    const ns = uniqueNamespace('sw');
    const { app } = await startWorker(ns, { WORKER_ID: 'w4' });
    const pong = await busRequest(nc, subjects.workerPing(ns, 'sample', 'w4'), {}, { timeoutMs: 5000, requestId: 'ping' });
    expect(pong).toMatchObject({ id: 'w4', service: 'sample', load: { inFlight: 0 } });
    await app.stop();
  });

  it('WORKER_FAIL_RATE with WORKER_FAIL_SEED fails exactly the jobs the seeded draws pick, with INTERNAL', async () => {
    const ns = uniqueNamespace('sw');
    const RATE = 0.4;
    const SEED = 1234;
    const { app } = await startWorker(ns, { WORKER_ID: 'w5', WORKER_FAIL_RATE: String(RATE), WORKER_FAIL_SEED: String(SEED), LOG_LEVEL: 'fatal' });
    const subject = subjects.workerEndpoint(ns, 'sample', 'w5', 'echo');
    const outcomes: string[] = [];
    for (let i = 0; i < 40; i++) {
      try {
        await busRequest(nc, subject, { message: `m${i}` }, { timeoutMs: 5000, requestId: `f${i}` });
        outcomes.push('ok');
      } catch (err) {
        expect(err).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/injected failure/) });
        outcomes.push('fail');
      }
    }
    const draws = seededRandom(SEED);
    expect(outcomes).toEqual(Array.from({ length: 40 }, () => (draws() < RATE ? 'fail' : 'ok')));
    expect(outcomes).toContain('ok');
    expect(outcomes).toContain('fail');
    await app.stop();
  });

  it('WORKER_EXTRA_LATENCY_MS delays every job by at least that much, and gives way to the deadline', async () => {
    const ns = uniqueNamespace('sw');
    const EXTRA_MS = 300;
    const { app } = await startWorker(ns, { WORKER_ID: 'w6', WORKER_EXTRA_LATENCY_MS: String(EXTRA_MS) });
    const subject = subjects.workerEndpoint(ns, 'sample', 'w6', 'echo');
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      expect(await busRequest(nc, subject, { message: 'slow' }, { timeoutMs: 10_000, requestId: `l${i}` })).toEqual({ message: 'slow', worker: 'w6' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(EXTRA_MS);
    }
    // A 100 ms budget ends inside the extra latency: the worker answers DEADLINE_EXCEEDED itself.
    const reply = await nc.request(subject, enc.encode('{"message":"late"}'), { timeout: 10_000, headers: requestHeaders('dl', 100) });
    expect(JSON.parse(dec.decode(reply.data))).toMatchObject({ error: { code: 'DEADLINE_EXCEEDED' } });
    await app.stop();
  });

  it.each([
    [{ WORKER_FAIL_RATE: '2' }, 'WORKER_FAIL_RATE', 'expected a number from 0 to 1'],
    [{ WORKER_EXTRA_LATENCY_MS: 'slow' }, 'WORKER_EXTRA_LATENCY_MS', 'expected an integer from 0 to 600000'],
  ])('bad %o exits 2 naming %s', async (env, variable, expected) => {
    const r = await AppProcess.runToExit({ script: appScript('sample-worker'), env: { NATS_URL: 'nats://127.0.0.1:1', ...env } });
    expect(r.code).toBe(2);
    expect(r.app.stderr.join('\n')).toContain(`${variable}: ${expected}`);
  });
});
