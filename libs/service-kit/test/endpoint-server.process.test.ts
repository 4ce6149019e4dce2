import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { SynodError } from '@synod/protocol';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { BusRequester, EndpointServer, PHASES_CHANNEL, busRequest, phases, type PhaseEvent } from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const silent = pino({ level: 'silent' });

let nats: NatsFixture;
let nc: NatsConnection;
let client: NatsConnection;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  client = await connect({ servers: nats.url });
});

afterAll(async () => {
  await client?.close();
  await nc?.close();
  await nats?.stop();
});

async function raw(subject: string, data: Uint8Array | string, h?: Record<string, string>): Promise<unknown> {
  const hdrs = headers();
  for (const [k, v] of Object.entries(h ?? {})) hdrs.set(k, v);
  const msg = await client.request(subject, typeof data === 'string' ? enc.encode(data) : data, { timeout: 5000, headers: hdrs });
  return JSON.parse(dec.decode(msg.data));
}

describe('EndpointServer on a real NATS server', () => {
  const outcomes: string[] = [];
  let server: EndpointServer;
  let subject: string;
  let slowSubject: string;
  let bigSubject: string;

  beforeAll(async () => {
    const ns = uniqueNamespace();
    subject = `${ns}.add`;
    slowSubject = `${ns}.slow`;
    bigSubject = `${ns}.big`;
    server = new EndpointServer({ nc, log: silent, onOutcome: (name, outcome, code) => outcomes.push(`${name}:${outcome}:${code ?? ''}`) });
    server.add('add', {
      subject,
      input: z.object({ a: z.number(), b: z.number() }),
      maxRequestBytes: 1024,
      handler: ({ a, b }) => {
        if (a < 0) throw new Error('negative numbers upset this handler');
        return { sum: a + b };
      },
    });
    server.add('big', {
      subject: bigSubject,
      input: z.object({ chars: z.number().int().nonnegative() }),
      handler: ({ chars }) => ({ data: 'x'.repeat(chars) }),
    });
    server.add('slow', {
      subject: slowSubject,
      input: z.object({ ms: z.number() }),
      handler: async ({ ms }, ctx) => {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(ctx.signal.reason);
          });
        });
        return { waited: ms, remaining: ctx.deadline - Date.now() >= 0 };
      },
    });
    // The subscriptions must reach the server before the client (another connection) asks.
    await nc.flush();
  });

  it('answers a valid request with { result }', async () => {
    expect(await raw(subject, '{"a":1,"b":2}')).toEqual({ result: { sum: 3 } });
    expect(await busRequest(client, subject, { a: 2, b: 2 }, { timeoutMs: 2000, requestId: 'r1' })).toEqual({ sum: 4 });
  });

  it.each([
    ['garbage', 'not json at all {', 'BAD_REQUEST', /not valid JSON/],
    ['an empty payload', '', 'BAD_REQUEST', /invalid request/],
    ['wrong types', '{"a":"1","b":null}', 'BAD_REQUEST', /expected number/],
    ['a JSON array', '[1,2]', 'BAD_REQUEST', /expected object/],
    ['an oversized body', JSON.stringify({ a: 1, b: 2, pad: 'x'.repeat(2000) }), 'PAYLOAD_TOO_LARGE', /exceeds the limit of 1024 bytes/],
  ])('answers %s with the envelope and keeps serving', async (_what, body, code, message) => {
    const reply = (await raw(subject, body)) as { error: { code: string; message: string; retryable: boolean } };
    expect(reply.error.code).toBe(code);
    expect(reply.error.message).toMatch(message);
    expect(reply.error.retryable).toBe(false);
    expect(await raw(subject, '{"a":1,"b":1}')).toEqual({ result: { sum: 2 } });
  });

  // Found by the fuzzer (libs/fuzz): a range over large values answered INTERNAL, "the reply could not be sent".
  it('answers a reply too large for one bus message with PAYLOAD_TOO_LARGE, and counts it so', async () => {
    const limit = nc.info!.max_payload;
    const reply = (await raw(bigSubject, JSON.stringify({ chars: limit + 1 }))) as { error: { code: string; message: string; retryable: boolean; details: unknown } };
    expect(reply.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', retryable: false, details: { limitBytes: limit } });
    expect(reply.error.message).toMatch(/exceeds the bus's \d+-byte message limit/);
    expect(outcomes).toContain('big:error:PAYLOAD_TOO_LARGE');
    expect(await raw(bigSubject, JSON.stringify({ chars: 3 }))).toEqual({ result: { data: 'xxx' } });
  });

  it('answers a bad timeout header and a thrown handler with the envelope', async () => {
    expect(await raw(subject, '{"a":1,"b":1}', { 'synod-timeout-ms': 'soon' })).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(await raw(subject, '{"a":-1,"b":1}')).toEqual({ error: { code: 'INTERNAL', message: 'negative numbers upset this handler', retryable: false } });
    await expect(busRequest(client, subject, { a: -1, b: 0 }, { timeoutMs: 2000, requestId: 'r2' })).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('aborts the handler at the deadline carried in the header', async () => {
    const reply = await raw(slowSubject, '{"ms":5000}', { 'synod-timeout-ms': '50' });
    expect(reply).toMatchObject({ error: { code: 'DEADLINE_EXCEEDED' } });
    expect(await raw(slowSubject, '{"ms":1}', { 'synod-timeout-ms': '2000' })).toEqual({ result: { waited: 1, remaining: true } });
  });

  it('maps a subject nobody serves to NO_RESPONDERS and a silent one to TIMEOUT', async () => {
    const err = await busRequest(client, `${uniqueNamespace()}.nobody`, {}, { timeoutMs: 2000, requestId: 'r3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SynodError);
    expect(err).toMatchObject({ code: 'NO_RESPONDERS', retryable: true });
    const silentSubject = `${uniqueNamespace()}.silent`;
    const sub = nc.subscribe(silentSubject, { callback: () => undefined });
    await nc.flush();
    await expect(busRequest(client, silentSubject, {}, { timeoutMs: 100, requestId: 'r4' })).rejects.toMatchObject({ code: 'TIMEOUT' });
    sub.unsubscribe();
  });

  it('a BusRequester (one inbox subscription) answers, maps no responders and silence the same way, and ignores late replies', async () => {
    const requester = new BusRequester(client);
    await client.flush();
    const via = { via: requester };
    const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => busRequest(client, subject, { a: i, b: 1 }, { timeoutMs: 2000, requestId: `v${i}`, ...via })));
    expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => ({ sum: i + 1 })));
    await expect(busRequest(client, subject, { a: -1, b: 0 }, { timeoutMs: 2000, requestId: 'v-err', ...via })).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(busRequest(client, `${uniqueNamespace()}.nobody`, {}, { timeoutMs: 2000, requestId: 'v-nr', ...via })).rejects.toMatchObject({ code: 'NO_RESPONDERS', retryable: true });
    // A responder that answers after the deadline: TIMEOUT, and its late answer is dropped.
    const lateSubject = `${uniqueNamespace()}.late`;
    const late = nc.subscribe(lateSubject, {
      callback: (_e, m) => {
        setTimeout(() => m.respond(enc.encode('{"result":1}')), 150);
      },
    });
    await nc.flush();
    await expect(busRequest(client, lateSubject, {}, { timeoutMs: 50, requestId: 'v-late', ...via })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await busRequest(client, subject, { a: 1, b: 1 }, { timeoutMs: 2000, requestId: 'v-after', ...via })).toEqual({ sum: 2 });
    // Closing rejects what still waits.
    const waiting = busRequest(client, lateSubject, {}, { timeoutMs: 5000, requestId: 'v-closed', ...via });
    requester.close();
    await expect(waiting).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    late.unsubscribe();
  });

  it('publishes request and reply steps on the synod:phases channel only while someone subscribes', async () => {
    const seen: PhaseEvent[] = [];
    const onPhase = (e: unknown) => seen.push(e as PhaseEvent);
    expect(phases.hasSubscribers).toBe(false);
    await busRequest(client, subject, { a: 1, b: 1 }, { timeoutMs: 2000, requestId: 'p0' });
    subscribe(PHASES_CHANNEL, onPhase);
    try {
      const before = process.hrtime.bigint();
      await busRequest(client, subject, { a: 1, b: 2 }, { timeoutMs: 2000, requestId: 'p1' });
      const after = process.hrtime.bigint();
      expect(seen.map((e) => e.step)).toEqual(['request', 'reply']);
      expect(seen[0]!.at).toBeGreaterThanOrEqual(before);
      expect(seen[1]!.at).toBeGreaterThanOrEqual(seen[0]!.at);
      expect(seen[1]!.at).toBeLessThanOrEqual(after);
    } finally {
      unsubscribe(PHASES_CHANNEL, onPhase);
    }
    await busRequest(client, subject, { a: 1, b: 3 }, { timeoutMs: 2000, requestId: 'p2' });
    expect(seen).toHaveLength(2);
  });

  it('counts every outcome', () => {
    expect(outcomes).toContain('add:ok:');
    expect(outcomes).toContain('add:error:PAYLOAD_TOO_LARGE');
    expect(outcomes).toContain('slow:error:DEADLINE_EXCEEDED');
  });

  it('finishes in-flight requests on stop, then refuses new ones', async () => {
    const inflight = Array.from({ length: 5 }, () => raw(slowSubject, '{"ms":300}', { 'synod-timeout-ms': '5000' }));
    // Wait until all five are being handled.
    while (server.inFlight < 5) await new Promise((r) => setTimeout(r, 5));
    const stopped = server.stop(5000);
    const replies = await Promise.all(inflight);
    expect(replies).toEqual(Array(5).fill({ result: { waited: 300, remaining: true } }));
    expect(await stopped).toBe(true);
    await expect(busRequest(client, slowSubject, { ms: 1 }, { timeoutMs: 1000, requestId: 'r5' })).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
  });
});
