import { afterEach, describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { checkLinearizability, kvModel, type KvInput, type KvOutput, type Operation } from '@synod/testkit';
import { MAX_ELECTION_MS, ReplicaCluster } from './cluster.js';

/** The test client's longest backoff between retries (ReplicaCluster.call). */
const MAX_CLIENT_BACKOFF_MS = 200;

let c: ReplicaCluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

/** Clients running puts, linearizable gets and compare-and-sets on a few keys; every op recorded. */
function workload(cluster: ReplicaCluster, clients: number, keys: number) {
  const history: Operation<KvInput, KvOutput>[] = [];
  const acked: { at: number }[] = [];
  let running = true;
  let id = 0;
  const one = async (client: number): Promise<void> => {
    const key = `k${Math.floor(Math.random() * keys)}`;
    const x = Math.random();
    const opId = ++id;
    const value = `v${opId}`;
    let input: KvInput;
    if (x < 0.45) input = { op: 'put', key, value };
    else if (x < 0.8) input = { op: 'get', key };
    else {
      const recent = history.filter((h) => h.input.key === key && h.input.op === 'put' && h.output !== undefined).slice(-2);
      const expected = recent.length > 0 && Math.random() < 0.7 ? (recent[recent.length - 1]!.input as { value: string }).value : null;
      input = { op: 'cas', key, expected, value };
    }
    const call = performance.now();
    try {
      let output: KvOutput;
      if (input.op === 'put') {
        await cluster.write({ op: 'put', key, value }, 5000);
        output = { ok: true };
        acked.push({ at: performance.now() });
      } else if (input.op === 'get') {
        output = { value: await cluster.get(key) };
      } else {
        const compare = input.expected === null ? { key, target: 'version', op: '=', value: 0 } : { key, target: 'value', op: '=', value: input.expected };
        const r = (await cluster.write({ op: 'txn', compare: [compare], success: [{ op: 'put', key, value }], failure: [] }, 5000)) as { succeeded: boolean };
        output = { ok: r.succeeded };
        if (r.succeeded) acked.push({ at: performance.now() });
      }
      history.push({ id: opId, clientId: client, input, output, call, return: performance.now() });
    } catch {
      // Timed out: a write may still have taken effect; a read constrains nothing.
      history.push({ id: opId, clientId: client, input, output: undefined, call, return: Infinity });
    }
  };
  const loops = Array.from({ length: clients }, async (_, client) => {
    while (running) await one(client);
  });
  return {
    history,
    acked,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('faults survived by real replica processes', () => {
  it('leader killed with SIGKILL under load: writes resume in bound, history linearizable', async () => {
    c = await ReplicaCluster.start(3);
    const leader = await c.leader();
    const load = workload(c, 4, 3);
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
    c = await ReplicaCluster.start(3);
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
    c = await ReplicaCluster.start(3, { SNAPSHOT_EVERY: '150' });
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
    c = await ReplicaCluster.start(3);
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
