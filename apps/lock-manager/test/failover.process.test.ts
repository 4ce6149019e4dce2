import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusResult, minLeaseTtlMs, subjects } from '@synod/protocol';
import { LockClient, type Lock } from '@synod/locks';
import { StoreClient } from '@synod/store-client';
import { busRequest } from '@synod/service-kit';
import { ENGINES, LockCluster, MAX_ELECTION_MS, sleep } from '@synod/cluster-kit';

const HOLDERS = 16;
const KILLS = 5;

// Lock holders through store failovers: with the store's minimum lease TTL, a SIGKILL of the
// store's leader never costs a live holder its lock (the new leader gives every lease a full TTL,
// and the clients reach it within the two thirds of a TTL the minimum leaves them).
for (const engine of ENGINES) {
  describe(`lock holders through store leader kills (${engine})`, () => {
    let c: LockCluster;
    beforeAll(async () => {
      c = await LockCluster.start(2, {}, { engine });
    });
    afterAll(async () => {
      await c?.stop();
    });

    const status = async (id: string) => StatusResult.parse(await busRequest(c.nc, subjects.kvNode(c.namespace, id), { type: 'status' }, { timeoutMs: 2000, requestId: `st-${id}-${Date.now()}` }));

    it('reports the minimum lease TTL of its configuration and raises a shorter grant to it', async () => {
      const st = await status(await c.leader());
      expect(st.maxElectionTimeoutMs).toBe(MAX_ELECTION_MS);
      expect(st.minLeaseTtlMs).toBe(minLeaseTtlMs(MAX_ELECTION_MS));
      const store = new StoreClient({ nc: c.nc, namespace: c.namespace });
      try {
        expect((await store.leaseGrant(100)).ttlMs).toBe(st.minLeaseTtlMs);
        expect((await store.leaseGrant(st.minLeaseTtlMs + 1)).ttlMs).toBe(st.minLeaseTtlMs + 1);
      } finally {
        await store.close();
      }
      // Through the lock manager: the session answers with the TTL granted, and the lock carries it.
      expect(await c.raw({ type: 'session', ttlMs: 100 })).toMatchObject({ ttlMs: st.minLeaseTtlMs });
      const lc = new LockClient({ nc: c.nc, namespace: c.namespace });
      const lock = await lc.acquire('raised', { ttlMs: 100 });
      expect(lock.ttlMs).toBe(st.minLeaseTtlMs);
      await lock.release();
      await lc.close();
    });

    it(`${HOLDERS} holders keep their locks through ${KILLS} SIGKILLs of the store's leader`, async () => {
      const ttlMs = (await status(await c.leader())).minLeaseTtlMs;
      const clients = Array.from({ length: 4 }, () => new LockClient({ nc: c.nc, namespace: c.namespace }));
      const locks: Lock[] = await Promise.all(Array.from({ length: HOLDERS }, (_, i) => clients[i % clients.length]!.acquire(`holder-${i}`, { ttlMs, timeoutMs: 10_000 })));
      const lost: string[] = [];
      for (const l of locks) l.signal.addEventListener('abort', () => lost.push(`${l.name}: ${String((l.signal.reason as Error)?.message)}`), { once: true });
      try {
        for (let k = 0; k < KILLS; k++) {
          const leader = await c.leader();
          await c.replicas.get(leader)!.kill();
          await c.leader(20_000);
          await c.startReplica(leader);
          // Caught up: the restarted replica has applied what the leader had committed.
          const target = (await status(await c.leader())).commitIndex;
          for (;;) {
            const s = await status(leader).catch(() => undefined);
            if (s && s.appliedIndex >= target) break;
            await sleep(50);
          }
          expect(lost, `after kill ${k + 1}`).toEqual([]);
        }
        // Every holder still holds, with the token it was granted.
        for (const l of locks) {
          expect(l.signal.aborted, l.name).toBe(false);
          expect((await clients[0]!.state(l.name)).holders.map((h) => h.token), l.name).toEqual([l.token]);
        }
        expect(lost).toEqual([]);
        for (const l of locks) expect(await l.release(), l.name).toBe(true);
      } finally {
        await Promise.all(clients.map((lc) => lc.close()));
      }
    });
  });
}
