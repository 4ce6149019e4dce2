import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { subjects, type WorkerAnnounce } from '@synod/protocol';
import { BusRequester, createRootLogger, EndpointServer } from '@synod/service-kit';
import { startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { HealthChecker, NatsTransport, WorkerRegistry } from '../src/index.js';

const log = createRootLogger({ service: 'test', instance: 'transport', level: 'silent' });
let nats: NatsFixture;
let workerNc: NatsConnection;
let routerNc: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  workerNc = await connect({ servers: nats.url });
  routerNc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await routerNc?.close();
  await workerNc?.close();
  await nats?.stop();
});

describe('NatsTransport and HealthChecker on a real NATS server', () => {
  it("sends an attempt with the worker's subject and the Synod headers, pings, and names what went wrong", async () => {
    const ns = uniqueNamespace();
    const registry = new WorkerRegistry(60_000);
    const announce = (id: string): WorkerAnnounce => ({ type: 'announce', v: 1, id, service: 'calc', weight: 1, endpoints: ['add'], heartbeatIntervalMs: 1000, load: { inFlight: 0, served: 0, errors: 0 } });
    registry.upsert(announce('w1'), 0);
    registry.upsert(announce('gone'), 0);
    registry.upsert(announce('mute'), 0);
    const seen: { requestId: string; deadlineInMs: number }[] = [];
    const server = new EndpointServer({ nc: workerNc, log });
    server.add('add', {
      subject: subjects.workerEndpoint(ns, 'calc', 'w1', 'add'),
      input: z.object({ a: z.number(), b: z.number() }),
      handler: ({ a, b }, ctx) => {
        seen.push({ requestId: ctx.requestId, deadlineInMs: ctx.deadline - Date.now() });
        if (a < 0) throw new Error('negative');
        return { sum: a + b };
      },
    });
    server.add('ping', { subject: subjects.workerPing(ns, 'calc', 'w1'), input: z.unknown(), handler: () => ({ pong: true }) });
    // `mute` takes pings and never answers (a frozen worker).
    workerNc.subscribe(subjects.workerPing(ns, 'calc', 'mute'), { callback: () => undefined });
    await workerNc.flush();

    const requester = new BusRequester(routerNc);
    const transport = new NatsTransport(requester, ns);
    const w1 = registry.get('w1')!;
    const body = new TextEncoder().encode('{"a":2,"b":3}');
    expect(Buffer.from(await transport.send(w1, { endpoint: 'add', body, requestId: 'req-1', timeoutMs: 4000 })).toString()).toBe('{"sum":5}');
    expect(seen[0]!.requestId).toBe('req-1');
    expect(seen[0]!.deadlineInMs).toBeGreaterThan(3000);
    expect(seen[0]!.deadlineInMs).toBeLessThanOrEqual(4000);
    await expect(transport.send(w1, { endpoint: 'add', body: new TextEncoder().encode('{"a":-1,"b":0}'), requestId: 'r2', timeoutMs: 4000 })).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(transport.send(w1, { endpoint: 'add', body: new TextEncoder().encode('{nope'), requestId: 'r3', timeoutMs: 4000 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(transport.send(registry.get('gone')!, { endpoint: 'add', body, requestId: 'r4', timeoutMs: 4000 })).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    await transport.ping(w1, 2000);

    // Pings every 50 ms: the mute worker misses one per interval, the live one answers, the gone one counts as nothing.
    const results: string[] = [];
    const health = new HealthChecker({ transport, registry, intervalMs: 50, timeoutMs: 100, log, onResult: (w, ok) => results.push(`${w.id}:${ok}`) });
    health.start();
    await new Promise((r) => setTimeout(r, 1000));
    health.stop();
    // One miss per interval (about 18 here), not one per timeout (about 9): a ping goes out every
    // interval whatever the earlier ones became, so misses in a row come as fast as the interval.
    const misses = results.filter((r) => r === 'mute:false').length;
    expect(misses).toBeGreaterThanOrEqual(11);
    expect(results.filter((r) => r === 'w1:true').length).toBeGreaterThanOrEqual(11);
    expect(results.some((r) => r.startsWith('gone:') || r === 'w1:false' || r === 'mute:true')).toBe(false);
    requester.close();
    await server.stop(1000);
  });
});
