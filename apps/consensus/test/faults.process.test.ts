import { afterEach, describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { checkLinearizability, kvModel } from '@synod/testkit';
import { ENGINES, MAX_ELECTION_MS, ReplicaCluster, runWorkload } from '@synod/cluster-kit';

/** The test client's longest backoff between retries (ReplicaCluster.call). */
const MAX_CLIENT_BACKOFF_MS = 200;

let c: ReplicaCluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

describe.each(ENGINES)('%s: faults survived by real replica processes', (engine) => {
  it('leader killed with SIGKILL under load: writes resume in bound, history linearizable', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const load = runWorkload(c, 4, 3);
    await new Promise((r) => setTimeout(r, 1000));
    const killedAt = performance.now();
    await c.app(leader).kill();
    await new Promise((r) => setTimeout(r, 2500));
    await load.stop();
    const bound = 2 * MAX_ELECTION_MS + MAX_CLIENT_BACKOFF_MS + 1000;
    const firstAfter = load.acked.find((a) => a.at > killedAt);
    expect(firstAfter, 'a write was acknowledged after the kill').toBeDefined();
    expect(firstAfter!.at - killedAt).toBeLessThanOrEqual(bound);
    const newLeader = await c.leader();
    expect(newLeader).not.toBe(leader);
    const verdict = checkLinearizability(kvModel, load.history, { maxStates: 5_000_000 });
    if (verdict.outcome !== 'ok') throw new Error(verdict.outcome === 'violation' ? verdict.message : `checker budget exceeded after ${verdict.explored} states`);
    expect(load.history.filter((h) => h.output !== undefined).length).toBeGreaterThan(100);
    // The killed replica comes back and catches up.
    await c.startReplica(leader);
    const target = (await c.status()).commitIndex;
    for (let i = 0; i < 200 && (await c.status(leader)).appliedIndex < target; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await c.status(leader)).appliedIndex).toBeGreaterThanOrEqual(target);
  });

  it('a follower paused with SIGSTOP for several election timeouts: no leader change, then it catches up', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const { term } = await c.status(leader);
    const follower = c.ids.find((id) => id !== leader)!;
    c.app(follower).signal('SIGSTOP');
    for (let i = 0; i < 50; i++) await c.put(`during-pause-${i}`, 'x');
    await new Promise((r) => setTimeout(r, 5 * MAX_ELECTION_MS));
    c.app(follower).signal('SIGCONT');
    await new Promise((r) => setTimeout(r, 3 * MAX_ELECTION_MS));
    const after = await c.status(leader);
    expect(after.role).toBe('leader');
    expect(after.term).toBe(term);
    for (let i = 0; i < 200 && (await c.status(follower)).appliedIndex < after.commitIndex; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await c.status(follower)).appliedIndex).toBeGreaterThanOrEqual(after.commitIndex);
    expect(await c.get('during-pause-49', 'stale', follower)).toBe('x');
  });

  it('all three killed with SIGKILL and restarted: every acknowledged write survives', async () => {
    c = await ReplicaCluster.start(3, { SNAPSHOT_EVERY: '150' }, { engine });
    await c.leader();
    const acked: string[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 100; i++) {
          await c!.put(`durable/${w}/${i}`, `${w}-${i}`);
          acked.push(`durable/${w}/${i}`);
        }
      }),
    );
    await Promise.all(c.ids.map((id) => c!.app(id).kill()));
    for (const id of c.ids) await c.startReplica(id);
    await c.leader();
    const all = (await c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'durable/', prefix: true } })) as { kvs: { key: string }[]; count: number };
    expect(all.count).toBe(acked.length);
    expect(new Set(all.kvs.map((k) => k.key))).toEqual(new Set(acked));
    // Snapshots were taken and restarts used them.
    const started = c.ids.map((id) => c!.app(id).lines.find((l) => l.msg === 'replica started'));
    expect(started.some((l) => Number(l?.restoredFrom) > 0)).toBe(true);
  });

  it("a leader's SIGTERM hands leadership over before it exits", async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    await c.put('before', '1');
    c.app(leader).signal('SIGTERM');
    expect((await c.app(leader).exited).code).toBe(0);
    const transfer = await c.app(leader).waitForLine((l) => l.msg === 'leadership transfer on shutdown', 1000);
    expect(transfer.handedOver).toBe(true);
    const next = await c.leader();
    expect(next).toBe(transfer.to);
    await c.put('after', '2');
    expect(await c.get('before')).toBe('1');
  });
});
