import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SynodError, type WatchEvent } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { startNats, startReplicas, uniqueNamespace, type AppProcess, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreClient, type StoreWatch } from '../src/index.js';

const NODES = ['n1', 'n2', 'n3'];

/** The client against three real replicas on a real nats-server. */
describe('StoreClient against a three-replica store', () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let ns: string;
  let dataRoot: string;
  const apps = new Map<string, AppProcess>();
  let client: StoreClient;

  beforeAll(async () => {
    nats = await startNats();
    ns = uniqueNamespace('sc');
    dataRoot = await mkdtemp(join(tmpdir(), 'synod-store-client-'));
    (await startReplicas({ natsUrl: nats.url, namespace: ns, ids: NODES, dataRoot })).forEach((app, i) => apps.set(NODES[i]!, app));
    nc = await connect({ servers: nats.url });
    client = new StoreClient({ nc, namespace: ns, timeoutMs: 10_000, attemptTimeoutMs: 1000 });
    // The client itself waits out the first election (NO_RESPONDERS on the leader subject is retried).
    const s = await client.status();
    expect(s.leader).not.toBeNull();
  });

  afterAll(async () => {
    await client?.close();
    await nc?.close();
    await Promise.all([...apps.values()].map((a) => a.kill()));
    await nats?.stop();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  it('puts, gets, ranges, deletes and runs transactions', async () => {
    const p1 = await client.put('basic/a', '1');
    const p2 = await client.put('basic/b', '2', { prevKv: true });
    expect(p2.revision).toBe(p1.revision + 1);
    expect(p2.prevKv).toBeUndefined();
    expect(await client.get('basic/a')).toMatchObject({ key: 'basic/a', value: '1', version: 1, createRevision: p1.revision });
    expect(await client.get('basic/missing')).toBeUndefined();
    const stale = await client.get('basic/a', { consistency: 'stale' });
    expect(stale === undefined || stale.value === '1').toBe(true);
    const r = await client.range({ key: 'basic/', prefix: true });
    expect(r.kvs.map((kv) => kv.key)).toEqual(['basic/a', 'basic/b']);
    const old = await client.getWithRevision('basic/b', { revision: p1.revision });
    expect(old).toEqual({ kv: undefined, revision: p1.revision });

    const won = await client.txn({
      compare: [{ key: 'basic/a', target: 'value', op: '=', value: '1' }],
      success: [{ op: 'put', key: 'basic/a', value: '2' }, { op: 'range', key: 'basic/', prefix: true }],
      failure: [],
    });
    expect(won.succeeded).toBe(true);
    expect(won.results[1]).toMatchObject({ op: 'range', count: 2 });
    const lost = await client.txn({ compare: [{ key: 'basic/a', target: 'version', op: '=', value: 1 }], success: [], failure: [{ op: 'range', key: 'basic/a' }] });
    expect(lost.succeeded).toBe(false);
    expect(lost.results[0]).toMatchObject({ op: 'range', kvs: [{ value: '2', version: 2 }] });

    const b = await client.batch([
      { op: 'put', key: 'basic/c', value: 'x' },
      { op: 'put', key: 'basic/d', value: 'y', lease: 424242 },
      { op: 'txn', compare: [{ key: 'basic/c', target: 'exists', op: '=', value: true }], success: [{ op: 'delete', key: 'basic/c' }], failure: [] },
    ]);
    expect(b.results).toMatchObject([
      { ok: true, result: { op: 'put', revision: b.revision - 1 } },
      { ok: false, error: { code: 'LEASE_NOT_FOUND' } },
      { ok: true, result: { op: 'txn', succeeded: true, revision: b.revision } },
    ]);
    expect(await client.get('basic/c')).toBeUndefined();
    await expect(client.batch([])).rejects.toMatchObject({ code: 'BAD_REQUEST', retryable: false });

    const d = await client.delete('basic/', { prefix: true, prevKv: true });
    expect(d.deleted).toBe(2);
    expect(d.prevKvs?.map((kv) => kv.key)).toEqual(['basic/a', 'basic/b']);
    await expect(client.get('basic/a', { revision: 10_000_000 })).rejects.toMatchObject({ code: 'FUTURE_REVISION', retryable: false });
  });

  it('clients on one connection share its requester: concurrent replies reach their callers, and closing one client leaves the others working', async () => {
    const others = Array.from({ length: 3 }, () => new StoreClient({ nc, namespace: ns, timeoutMs: 10_000, attemptTimeoutMs: 1000, validateRequests: false }));
    const puts = await Promise.all(
      Array.from({ length: 60 }, (_, i) => others[i % others.length]!.put(`shared/k${i}`, `v${i}`).then((r) => ({ i, revision: r.revision }))),
    );
    // 60 writes, 60 distinct revisions: no reply was given to the wrong caller.
    expect(new Set(puts.map((p) => p.revision)).size).toBe(60);
    const reads = await Promise.all(puts.map(({ i }) => others[(i + 1) % others.length]!.get(`shared/k${i}`)));
    reads.forEach((kv, i) => expect(kv).toMatchObject({ key: `shared/k${i}`, value: `v${i}`, modRevision: puts[i]!.revision }));
    await others[0]!.close();
    await expect(others[0]!.get('shared/k0')).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(await others[1]!.get('shared/k0')).toMatchObject({ value: 'v0' });
    expect(await client.get('shared/k1')).toMatchObject({ value: 'v1' });
    await Promise.all(others.slice(1).map((c) => c.close()));
  });

  it('applies a write once when its first reply is lost and the retry resends the same seq', async () => {
    let dropped = 0;
    const lossy = new StoreClient({
      namespace: ns,
      request: async (subject, body, o) => {
        const result = await busRequest(nc, subject, body, o);
        // The write is applied, but the client never hears of it: it must retry with the same seq.
        if ((body as { type: string }).type === 'write' && dropped++ === 0) throw new SynodError('TIMEOUT', 'reply lost (simulated)');
        return result;
      },
    });
    const first = await lossy.put('once/k', 'v');
    expect(dropped).toBe(2);
    const kv = await client.get('once/k');
    expect(kv).toMatchObject({ version: 1, modRevision: first.revision });
    const second = await lossy.put('once/k', 'w');
    expect(second.revision).toBeGreaterThan(first.revision);
    expect(await client.get('once/k')).toMatchObject({ version: 2, value: 'w' });
  });

  it('grants leases, keeps them alive past their TTL, and reports a lost one', async () => {
    // Below the store's minimum lease TTL: raised to it.
    const minTtlMs = (await client.status()).minLeaseTtlMs;
    const lease = await client.leaseGrant(600);
    expect(lease.ttlMs).toBe(minTtlMs);
    await client.put('lease/k', 'v', { lease: lease.id });
    const ttl = await client.leaseTimeToLive(lease.id);
    expect(ttl).toMatchObject({ id: lease.id, ttlMs: minTtlMs, keys: ['lease/k'] });
    expect((await client.leases()).map((l) => l.id)).toContain(lease.id);

    const events: WatchEvent[] = [];
    const w = client.watch({ key: 'lease/k' });
    await w.ready;
    const collecting = (async () => {
      for await (const ev of w) {
        events.push(ev);
        if (ev.type === 'delete') break;
      }
    })();

    const lostReasons: SynodError[] = [];
    const ka = client.keepAlive(lease.id, { onLost: (e) => lostReasons.push(e) });
    await new Promise((r) => setTimeout(r, minTtlMs + 500));
    expect(await client.get('lease/k')).toBeDefined();
    expect(ka.signal.aborted).toBe(false);
    ka.stop();
    await ka.done;
    // Without keep-alives the lease expires and takes its key along.
    await collecting;
    expect(events.map((e) => [e.type, e.cause])).toEqual([['delete', 'lease-expired']]);
    expect(await client.get('lease/k')).toBeUndefined();
    expect(lostReasons).toEqual([]);

    const gone = client.keepAlive(lease.id, { onLost: (e) => lostReasons.push(e) });
    await gone.done;
    expect(lostReasons.map((e) => e.code)).toEqual(['LEASE_NOT_FOUND']);
    expect(gone.signal.aborted).toBe(true);
    await expect(client.leaseRevoke(lease.id)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
  });

  it('watches a prefix from a past revision, then live', async () => {
    const a = await client.put('watch/a', '1');
    await client.put('watch/b', '2');
    const w = client.watch({ key: 'watch/', prefix: true, fromRevision: a.revision, prevKv: true });
    const got: WatchEvent[] = [];
    for await (const ev of w) {
      got.push(ev);
      if (got.length === 2) await client.put('watch/a', '3');
      if (got.length === 3) break;
    }
    expect(got.map((e) => [e.kv.key, e.kv.value])).toEqual([
      ['watch/a', '1'],
      ['watch/b', '2'],
      ['watch/a', '3'],
    ]);
    expect(got[2]?.prevKv?.value).toBe('1');
  });

  it('a watch asked of the leader is served by the leader', async () => {
    const leader = (await client.status()).leader;
    for (let i = 0; i < 5; i++) {
      const w = client.watch({ key: `leaderwatch/${i}`, leader: true });
      const next = w[Symbol.asyncIterator]().next();
      await w.ready;
      await client.put(`leaderwatch/${i}`, 'x');
      expect((await next).value).toMatchObject({ type: 'put', kv: { key: `leaderwatch/${i}`, value: 'x' } });
      expect(w.node).toBe(leader);
      await w.cancel();
    }
  });

  it('a watch from a compacted revision throws COMPACTED', async () => {
    const r = await client.put('compact/k', '1');
    await client.put('compact/k', '2');
    await client.compact(r.revision + 1);
    // A watch is served by any replica, from what it has applied: wait until every one compacted.
    for (const id of NODES) {
      while ((await client.status(id)).compactRevision < r.revision + 1) await new Promise((res) => setTimeout(res, 20));
    }
    const w = client.watch({ key: 'compact/k', fromRevision: r.revision });
    const err = await w.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SynodError);
    expect(err).toMatchObject({ code: 'COMPACTED' });
  });

  it('survives the loss of the leader: writes go on through retries, watches deliver every event once, in order', async () => {
    const leaderId = (await client.status()).leader!;
    // Watches land on a random replica (queue group): open some until one is served by the leader.
    const watches: StoreWatch[] = [];
    for (let i = 0; i < 40 && !watches.some((w) => w.node === leaderId); i++) {
      const w = client.watch({ key: 'loop/', prefix: true });
      await w.ready;
      watches.push(w);
    }
    const onLeader = watches.find((w) => w.node === leaderId);
    expect(onLeader, 'no watch landed on the leader').toBeDefined();
    const received = watches.map(() => [] as WatchEvent[]);
    const total = 120;
    const consumers = watches.map(async (w, i) => {
      for await (const ev of w) {
        received[i]!.push(ev);
        if (received[i]!.length === total) break;
      }
    });

    const revisions: number[] = [];
    let killed = false;
    for (let i = 0; i < total; i++) {
      if (i === 40) {
        await apps.get(leaderId)!.kill();
        killed = true;
      }
      const r = await client.put(`loop/${String(i).padStart(3, '0')}`, String(i));
      revisions.push(r.revision);
    }
    expect(killed).toBe(true);
    const newLeader = (await client.status()).leader;
    expect(newLeader).not.toBe(leaderId);

    await Promise.all(consumers);
    for (const [i, evs] of received.entries()) {
      expect(evs.map((e) => e.kv.key), `watch ${i}`).toEqual(Array.from({ length: total }, (_, j) => `loop/${String(j).padStart(3, '0')}`));
      expect(evs.map((e) => e.kv.modRevision), `watch ${i}`).toEqual(revisions);
    }
    expect(onLeader!.resumes).toBeGreaterThanOrEqual(1);
    // each put applied once: version 1 everywhere
    const r = await client.range({ key: 'loop/', prefix: true });
    expect(r.count).toBe(total);
    expect(r.kvs.every((kv) => kv.version === 1)).toBe(true);
  });
});
