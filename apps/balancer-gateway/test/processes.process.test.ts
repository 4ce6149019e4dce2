import { request } from 'node:http';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayStats, ReplyEnvelope, subjects } from '@synod/protocol';
import { admin, metricSum, metrics, post, Stack, TEST_ADMIN_TOKEN, waitForService, waitUntil, type Gateway } from './stack.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A POST on a connection of its own (node:cluster hands each new connection to the next process). */
function postFresh(base: string, path: string, body: unknown): Promise<{ status: number; worker: string | undefined }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(`${base}${path}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: res.headers['x-synod-worker'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** The answers of the gateway processes to one stats request: as soon as `enough` holds, else all that came within `windowMs`. */
async function stats(nc: NatsConnection, namespace: string, windowMs = 1000, enough: (answers: GatewayStats[]) => boolean = () => false): Promise<GatewayStats[]> {
  const inbox = `_INBOX.stats-${Math.random().toString(36).slice(2)}`;
  const answers: GatewayStats[] = [];
  let done: () => void = () => undefined;
  const complete = new Promise<void>((resolve) => (done = resolve));
  const sub = nc.subscribe(inbox, {
    callback: (_err, msg) => {
      const reply = ReplyEnvelope.parse(JSON.parse(dec.decode(msg.data)));
      if ('result' in reply) answers.push(GatewayStats.parse(reply.result));
      if (enough(answers)) done();
    },
  });
  nc.publish(subjects.gatewayStats(namespace), enc.encode(JSON.stringify({ type: 'stats', v: 1 })), { reply: inbox });
  await Promise.race([complete, new Promise((r) => setTimeout(r, windowMs))]);
  sub.unsubscribe();
  return answers.sort((a, b) => a.process - b.process);
}

/** This gateway's processes' answers, once all `n` of them are in (or `windowMs` passed). */
const statsOf = (nc: NatsConnection, namespace: string, gateway: unknown, n: number, windowMs = 2000) =>
  stats(nc, namespace, windowMs, (a) => a.filter((s) => s.gateway === gateway).length === n).then((a) => a.filter((s) => s.gateway === gateway));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** GATEWAY_PROCESSES: several gateway processes on one port, one ops port for all, admin changes and stats on the bus. */
describe('gateway processes', () => {
  let stack: Stack;
  let nc: NatsConnection;

  beforeAll(async () => {
    stack = await Stack.start();
    nc = await connect({ servers: stack.nats.url });
    await Promise.all(['p1', 'p2', 'p3'].map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: 'multi' })));
  });

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  it('runs N processes on one port, each serving requests, with one aggregated /metrics and a process label only on gauges', async () => {
    const gw = await stack.gateway({ GATEWAY_PROCESSES: '2', LB_STRATEGY: 'round-robin' });
    expect(gw.ready).toMatchObject({ processes: 2 });
    const processLines = () => gw.app.lines.filter((l) => l.msg === 'process ready');
    expect(processLines().map((l) => l.process).sort()).toEqual([1, 2]);
    expect(new Set(processLines().map((l) => l.port))).toEqual(new Set([gw.ready.port]));
    const pids = processLines().map((l) => Number(l.pid));
    expect(pids).not.toContain(gw.app.pid);
    await waitForService(gw.url, 'multi', ['p1', 'p2', 'p3']);
    await waitUntil(async () => (await statsOf(nc, stack.namespace, gw.ready.id, 2)).every((s) => s.workers.length === 3), 10_000);

    const REQUESTS = 20;
    for (let i = 0; i < REQUESTS; i++) expect((await postFresh(gw.url, '/v1/services/multi/echo', { message: 'x' })).status).toBe(200);
    // Both processes served (the access log carries each line's pid).
    await waitUntil(() => gw.app.lines.filter((l) => l.msg === 'request' && l.url === '/v1/services/multi/echo').length >= REQUESTS, 5000);
    const servedBy = new Set(gw.app.lines.filter((l) => l.msg === 'request' && l.url === '/v1/services/multi/echo').map((l) => Number(l.pid)));
    expect([...servedBy].sort()).toEqual([...pids].sort());

    const text = await metrics(gw);
    // Counters add up over the processes, in one series without a process label.
    expect(metricSum(text, 'synod_gateway_requests_total', { service: 'multi', endpoint: 'echo', status: '200' })).toBe(REQUESTS);
    const requestSeries = text.split('\n').filter((l) => l.startsWith('synod_gateway_requests_total{') && l.includes('service="multi"'));
    expect(requestSeries).toHaveLength(1);
    expect(requestSeries[0]).not.toContain('process=');
    // Gauges are per process.
    for (const p of ['1', '2']) expect(metricSum(text, 'synod_gateway_workers', { process: p })).toBe(3);
    expect(text).toMatch(/process_resident_memory_bytes\{[^}]*process="primary"/);
    expect(await (await fetch(`${gw.opsUrl}/readyz`)).json()).toMatchObject({ status: 'ready', checks: { processes: true } });
  });

  it('applies an admin change in every process, answers once they have, and serves stats per process on the bus', async () => {
    const gw = await stack.gateway({ GATEWAY_PROCESSES: '2', ADMIN_TOKEN: TEST_ADMIN_TOKEN });
    await waitUntil(async () => (await statsOf(nc, stack.namespace, gw.ready.id, 2)).filter((s) => s.workers.length === 3).length === 2, 10_000);
    expect(await admin(gw, '/v1/admin/services/multi/strategy', { strategy: 'p2c-ewma' })).toMatchObject({ status: 200, body: { service: 'multi', strategy: 'p2c-ewma', overridden: true } });
    // Answered only once both processes applied it: they say so right away.
    const mine = await statsOf(nc, stack.namespace, gw.ready.id, 2);
    expect(mine.map((s) => s.process)).toEqual([1, 2]);
    for (const s of mine) expect(s.services.find((x) => x.service === 'multi')?.strategy).toBe('p2c-ewma');
    expect(await admin(gw, '/v1/admin/workers/p1/weight', { weight: 0 })).toMatchObject({ status: 200, body: { id: 'p1', weight: 0 } });
    const weighted = await statsOf(nc, stack.namespace, gw.ready.id, 2);
    expect(weighted).toHaveLength(2);
    for (const s of weighted) expect(s.workers.find((w) => w.id === 'p1')?.weight).toBe(0);
    expect((await admin(gw, '/v1/admin/services/nobody-serves-this/strategy', { strategy: 'random' })).status).toBe(404);
    expect((await admin(gw, '/v1/admin/workers/p1/weight', null, 'DELETE')).status).toBe(200);
    expect((await admin(gw, '/v1/admin/services/multi/strategy', null, 'DELETE')).body).toMatchObject({ strategy: 'weighted', overridden: false });
  });

  it('stops every process on SIGTERM, each finishing its requests in flight, and exits 0', async () => {
    const gw: Gateway = await stack.gateway({ GATEWAY_PROCESSES: '2' });
    await waitForService(gw.url, 'multi', ['p1', 'p2', 'p3']);
    const pids = gw.app.lines.filter((l) => l.msg === 'process ready').map((l) => Number(l.pid));
    // Slow requests on fresh connections, so both processes hold some.
    const slow = Array.from({ length: 6 }, () => postFresh(gw.url, '/v1/services/multi/sleep', { ms: 1500 }));
    const inFlight = async () => (await statsOf(nc, stack.namespace, gw.ready.id, 2)).flatMap((s) => s.workers.map((w) => w.inFlight)).reduce((a, b) => a + b, 0);
    await waitUntil(async () => (await inFlight()) === 6, 1000, 10);
    gw.app.signal('SIGTERM');
    expect((await Promise.all(slow)).map((r) => r.status)).toEqual(Array(6).fill(200));
    expect((await gw.app.exited).code).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('starts a process again when one dies', async () => {
    const gw = await stack.gateway({ GATEWAY_PROCESSES: '2' });
    await waitForService(gw.url, 'multi', ['p1', 'p2', 'p3']);
    const victim = gw.app.lines.find((l) => l.msg === 'process ready' && l.process === 2)!;
    process.kill(Number(victim.pid), 'SIGKILL');
    const restarted = await gw.app.waitForLine((l) => l.msg === 'process ready' && l.process === 2 && l.pid !== victim.pid, 15_000);
    expect(gw.app.lines.some((l) => l.msg === 'gateway process exited: starting another' && l.process === 2)).toBe(true);
    expect(alive(Number(restarted.pid))).toBe(true);
    await waitUntil(async () => (await fetch(`${gw.opsUrl}/readyz`)).status === 200, 10_000);
    for (let i = 0; i < 6; i++) expect((await postFresh(gw.url, '/v1/services/multi/echo', { message: 'x' })).status).toBe(200);
  });
});

describe('admin changes on the bus reach every gateway instance', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
    await Promise.all(['q1', 'q2'].map((id) => stack.worker({ WORKER_ID: id, WORKER_SERVICE: 'shared', WORKER_WEIGHT: '2' })));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('a change through one gateway is applied by another on the namespace too', async () => {
    const [g1, g2] = await Promise.all([stack.gateway({ ADMIN_TOKEN: TEST_ADMIN_TOKEN }), stack.gateway()]);
    await waitForService(g1.url, 'shared', ['q1', 'q2']);
    await waitForService(g2.url, 'shared', ['q1', 'q2']);
    expect((await admin(g1, '/v1/admin/workers/q2/weight', { weight: 0 })).status).toBe(200);
    await waitUntil(async () => ((await (await fetch(`${g2.url}/v1/workers`)).json()) as { workers: { id: string; weight: number }[] }).workers.find((w) => w.id === 'q2')?.weight === 0, 5000);
    for (let i = 0; i < 6; i++) expect((await post(g2.url, '/v1/services/shared/echo', { message: 'x' })).worker).toBe('q1');
  });
});
