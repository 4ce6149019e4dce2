import { afterEach, describe, expect, it } from 'vitest';
import { minLeaseTtlMs, subjects, WatchMessage, type WatchEvent } from '@synod/protocol';
import { ENGINES, MAX_ELECTION_MS, ReplicaCluster, TICK_MS } from '@synod/cluster-kit';

const dec = new TextDecoder();
let c: ReplicaCluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

/** A lease asked for `ttlMs`: the store raises a TTL below its minimum, so tests pace on the TTL granted. */
async function grant(cluster: ReplicaCluster, ttlMs: number): Promise<{ id: number; ttlMs: number }> {
  const granted = (await cluster.write({ op: 'leaseGrant', ttlMs })) as { id: number; ttlMs: number };
  expect(granted.ttlMs).toBe(Math.max(ttlMs, minLeaseTtlMs(MAX_ELECTION_MS)));
  return granted;
}

async function keepAlive(cluster: ReplicaCluster, id: number): Promise<void> {
  await cluster.call(subjects.kvLeader(cluster.namespace), { type: 'leaseKeepAlive', id }, 3000);
}

/** A raw watch on one chosen replica: events collected in arrival order. */
async function watchOn(
  cluster: ReplicaCluster,
  node: string,
  filter: { key: string; prefix?: boolean; noPut?: boolean },
  firstOf?: string,
  extra: { once?: boolean; fromRevision?: number } = {},
  inboxPrefix = `_INBOX.${cluster.namespace}`,
) {
  const inbox = `${inboxPrefix}.${Math.random().toString(36).slice(2)}`;
  const events: WatchEvent[] = [];
  const ended: unknown[] = [];
  const sub = cluster.nc.subscribe(inbox, {
    callback: (_e, msg) => {
      const m = WatchMessage.parse(JSON.parse(dec.decode(msg.data)));
      if (m.type === 'events') events.push(...m.events);
      else ended.push(m.error);
    },
  });
  await cluster.nc.flush();
  const watchId = `w-${Math.random().toString(36).slice(2)}`;
  await cluster.call(subjects.kvNode(cluster.namespace, node), { type: 'watch', watchId, inbox, filter, fromRevision: 0, ...(firstOf ? { firstOf } : {}), ...extra });
  const renew = setInterval(() => {
    void cluster.call(subjects.kvWatch(cluster.namespace, node), { type: 'watchRenew', watchIds: [watchId] }, 1000).catch(() => undefined);
  }, 1000);
  return {
    events,
    ended,
    watchId,
    stop() {
      clearInterval(renew);
      sub.unsubscribe();
    },
  };
}

describe.each(ENGINES)('%s: leases and watches on real replicas', (engine) => {
  it('a key on a lease stays while keep-alives continue and is gone everywhere within TTL + one election timeout after', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    await c.leader();
    const { id, ttlMs } = await grant(c, 1000);
    // The watch is registered before the put, so it must deliver the put and then the expiry.
    const watch = await watchOn(c, c.ids[0]!, { key: 'session/', prefix: true });
    await c.put('session/a', 'alive', { lease: id });
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, ttlMs / 4));
      await keepAlive(c, id);
    }
    expect(await c.get('session/a')).toBe('alive');
    const ttl = (await c.call(subjects.kvLeader(c.namespace), { type: 'leaseTimeToLive', id })) as { remainingMs: number; keys: string[] };
    expect(ttl.keys).toEqual(['session/a']);
    expect(ttl.remainingMs).toBeGreaterThan(0);
    expect(ttl.remainingMs).toBeLessThanOrEqual(ttlMs);
    const stoppedAt = Date.now();
    // Expiry: the leader's sweep runs every tick; allow one tick and one election timeout.
    const bound = ttlMs + MAX_ELECTION_MS + TICK_MS;
    for (const node of c.ids) {
      for (;;) {
        if ((await c.get('session/a', 'stale', node)) === null) break;
        expect(Date.now() - stoppedAt).toBeLessThanOrEqual(bound);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(ttlMs - 300);
    await expect(keepAlive(c, id)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
    for (let i = 0; i < 100 && watch.events.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(watch.events.map((e) => [e.type, e.kv.key, e.cause])).toEqual([
      ['put', 'session/a', undefined],
      ['delete', 'session/a', 'lease-expired'],
    ]);
    watch.stop();
  });

  it('a new leader extends live leases instead of expiring them on failover', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const { id, ttlMs } = await grant(c, 1500);
    await c.put('held', 'yes', { lease: id });
    await keepAlive(c, id);
    await c.app(leader).kill();
    await c.leader();
    // Keep-alives go on through the new leader.
    for (let i = 0; i < 6; i++) {
      await keepAlive(c, id);
      await new Promise((r) => setTimeout(r, ttlMs / 4));
    }
    expect(await c.get('held')).toBe('yes');
  });

  it('a watch sees every event in order, exactly once, across a leader change', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const watcher = c.ids.find((id) => id !== leader)!;
    const watch = await watchOn(c, watcher, { key: 'w/', prefix: true });
    const revisions: number[] = [];
    for (let i = 0; i < 30; i++) revisions.push((await c.put(`w/${i % 3}`, `a${i}`)).revision);
    await c.app(leader).kill();
    for (let i = 30; i < 60; i++) revisions.push((await c.put(`w/${i % 3}`, `a${i}`)).revision);
    for (let i = 0; i < 300 && watch.events.length < 60; i++) await new Promise((r) => setTimeout(r, 10));
    expect(watch.events.map((e) => e.kv.modRevision)).toEqual(revisions);
    expect(watch.events.map((e) => e.kv.value)).toEqual(Array.from({ length: 60 }, (_, i) => `a${i}`));
    expect(watch.ended).toEqual([]);
    watch.stop();
  });

  it('a watch with firstOf reports the head of the line (lowest createRevision under the prefix) with each event', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    // Created in this order, so the line is z, a, m although key order is a, m, z.
    const z = (await c.put('line/z', '1')).revision;
    const a = (await c.put('line/a', '1')).revision;
    const m = (await c.put('line/m', '1')).revision;
    const watch = await watchOn(c, leader, { key: 'line/a' }, 'line/');
    const plain = await watchOn(c, leader, { key: 'line/a' });
    await c.put('line/a', '2'); // a's createRevision stays: the head is still z
    await c.write({ op: 'delete', key: 'line/z' }); // not watched: no event
    await c.write({ op: 'delete', key: 'line/a' }); // the head is now m
    await c.put('line/a', '3'); // a comes back last in line: still m
    for (let i = 0; i < 300 && (watch.events.length < 3 || plain.events.length < 3); i++) await new Promise((r) => setTimeout(r, 10));
    expect(watch.events.map((e) => [e.type, e.first])).toEqual([
      ['put', { key: 'line/z', createRevision: z }],
      ['delete', { key: 'line/m', createRevision: m }],
      ['put', { key: 'line/m', createRevision: m }],
    ]);
    expect(a).toBeLessThan(m);
    // Without firstOf, no head.
    expect(plain.events.map((e) => e.first)).toEqual([undefined, undefined, undefined]);
    await c.write({ op: 'delete', key: 'line/m' });
    await c.write({ op: 'delete', key: 'line/a' });
    for (let i = 0; i < 300 && watch.events.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    // The last key of the line went with this event: no head.
    expect(watch.events[3]).toMatchObject({ type: 'delete', first: null });
    watch.stop();
    plain.stop();
  });

  it('a one-shot deletions-only watch delivers the first deletion, then the replica forgets it', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const watch = await watchOn(c, leader, { key: 'one/', prefix: true, noPut: true }, undefined, { once: true });
    await c.put('one/a', '1'); // a put: not delivered, and the watch stays
    await c.put('one/b', '1');
    const renewed = (await c.call(subjects.kvWatch(c.namespace, leader), { type: 'watchRenew', watchIds: [watch.watchId] })) as { missing: string[] };
    expect(renewed.missing).toEqual([]);
    await c.write({ op: 'delete', key: 'one/a' });
    for (let i = 0; i < 300 && watch.events.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    await c.write({ op: 'delete', key: 'one/b' }); // after the one delivery: not delivered
    await c.put('one/c', '1');
    await new Promise((r) => setTimeout(r, 200));
    expect(watch.events.map((e) => [e.type, e.kv.key])).toEqual([['delete', 'one/a']]);
    const after = (await c.call(subjects.kvWatch(c.namespace, leader), { type: 'watchRenew', watchIds: [watch.watchId] })) as { missing: string[] };
    expect(after.missing).toEqual([watch.watchId]);
    watch.stop();
  });

  // Found by the fuzzer (libs/fuzz): events that together exceeded one NATS message were dropped
  // (the publish failed and was logged), and a range over them answered INTERNAL.
  it('values that together exceed one bus message: a watch delivers every event, over several messages; a range over them is refused PAYLOAD_TOO_LARGE', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    await c.leader();
    const revisions: number[] = [];
    // 1.2 MB in three values: two fit one message, the third goes in the next.
    for (let i = 0; i < 3; i++) revisions.push((await c.put(`big/${i}`, String.fromCharCode(97 + i).repeat(400_000))).revision);
    const watch = await watchOn(c, c.ids[0]!, { key: 'big/', prefix: true }, undefined, { fromRevision: revisions[0]! });
    revisions.push((await c.put('big/zz', 'small')).revision);
    for (let i = 0; i < 300 && watch.events.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(watch.events.map((e) => e.kv.modRevision)).toEqual(revisions);
    expect(watch.events[2]!.kv.value).toBe('c'.repeat(400_000));
    expect(watch.ended).toEqual([]);
    watch.stop();
    await expect(c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'big/', prefix: true } }, 3000)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const page = (await c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'big/', prefix: true, limit: 2 } }, 3000)) as { kvs: unknown[]; more: boolean };
    expect(page.kvs.length).toBe(2);
    expect(page.more).toBe(true);
  });

  it("a watch may deliver under a client's own inbox prefix only when WATCH_INBOX_PREFIXES names it", async () => {
    c = await ReplicaCluster.start(3, { WATCH_INBOX_PREFIXES: 'billing.replies' }, { engine });
    const leader = await c.leader();
    const watch = await watchOn(c, leader, { key: 'own/', prefix: true }, undefined, {}, 'billing.replies');
    await c.put('own/a', '1');
    for (let i = 0; i < 300 && watch.events.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(watch.events.map((e) => e.kv.key)).toEqual(['own/a']);
    watch.stop();
    const refused = await c.call(subjects.kvNode(c.namespace, leader), { type: 'watch', watchId: 'other', inbox: 'payroll.replies.1', filter: { key: 'own/' } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('inbox must be a subject under _INBOX., billing.replies.') });
  });

  it('a watch from a compacted revision ends with COMPACTED', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    await c.leader();
    for (let i = 0; i < 5; i++) await c.put('old', `${i}`);
    const { revision } = await c.put('old', 'last');
    await c.call(subjects.kvLeader(c.namespace), { type: 'compact', revision: revision - 1 });
    const err = await c.call(subjects.kvLeader(c.namespace), { type: 'watch', watchId: 'x', inbox: '_INBOX.never', filter: { key: 'old' }, fromRevision: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'COMPACTED' });
    const range = await c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'old', revision: 2 } }).catch((e: unknown) => e);
    expect(range).toMatchObject({ code: 'COMPACTED' });
  });

  it('the leader compacts history older than RETAIN_REVISIONS on its own, a tenth of it at a time', async () => {
    const retain = 20;
    c = await ReplicaCluster.start(3, { RETAIN_REVISIONS: String(retain) }, { engine });
    await c.leader();
    let revision = 0;
    for (let i = 0; i < 3 * retain; i++) revision = (await c.put('hist', `${i}`)).revision;
    const readAt = (rev: number) => c!.call(subjects.kvLeader(c!.namespace), { type: 'range', request: { key: 'hist', revision: rev } }).catch((e: unknown) => e);
    // The leader looks every tick and compacts a step at a time (each step one more write to
    // commit): within some ticks it has compacted to within one step (retain / 10) of the retention.
    const step = retain / 10;
    let err: unknown;
    for (let waited = 0; waited < 20 * TICK_MS + MAX_ELECTION_MS; waited += TICK_MS) {
      err = await readAt(revision - retain - step);
      if ((err as { code?: string }).code === 'COMPACTED') break;
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    expect(err).toMatchObject({ code: 'COMPACTED' });
    // ...and never into it.
    const compactRevision = (err as { details: { compactRevision: number } }).details.compactRevision;
    expect(compactRevision).toBeGreaterThanOrEqual(revision - retain - step);
    expect(compactRevision).toBeLessThanOrEqual(revision - retain);
    const kept = (await readAt(revision - retain + 1)) as { kvs: { value: string }[] };
    expect(kept.kvs[0]?.value).toBe(`${2 * retain}`);
  });
});
