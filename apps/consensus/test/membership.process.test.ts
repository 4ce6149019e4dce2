import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { ENGINES, ReplicaCluster } from '@synod/cluster-kit';

let c: ReplicaCluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

describe.each(ENGINES)('%s: membership changes on real replicas', (engine) => {
  it('a new replica joins as a learner, catches up, is promoted; a voter is removed; leadership moves on request', async () => {
    c = await ReplicaCluster.start(3, { SNAPSHOT_EVERY: '50', SNAPSHOT_TRAILING_ENTRIES: '10' }, { engine });
    await c.leader();
    for (let i = 0; i < 120; i++) await c.put(`m/${i}`, `${i}`);
    // n4 starts empty; its PEERS name the current voters, not itself: it waits to be added.
    c.dirs.set('n4', await mkdtemp(join(tmpdir(), 'synod-n4-')));
    await c.startReplica('n4', { PEERS: 'n1,n2,n3' });
    // A membership change is not idempotent (a retry of an applied `remove` is refused as "not a
    // member"), so it gets one attempt with a generous timeout instead of the retrying call.
    const member = (change: { type: string; node: string }) => busRequest(c!.nc, subjects.kvLeader(c!.namespace), { type: 'member', change }, { timeoutMs: 10_000, requestId: `m-${change.type}` });
    const early = await member({ type: 'promote', node: 'n4' }).catch((e: unknown) => e);
    expect(early).toMatchObject({ code: 'BAD_REQUEST' });
    await member({ type: 'addLearner', node: 'n4' });
    for (let i = 0; i < 200; i++) {
      const st = await c.status('n4').catch(() => undefined);
      if (st && st.appliedIndex >= (await c.status()).commitIndex) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await c.status('n4')).role).toBe('learner');
    expect(await c.get('m/119', 'stale', 'n4')).toBe('119');
    await member({ type: 'promote', node: 'n4' });
    for (let i = 0; i < 100 && !(await c.status()).membership.voters.includes('n4'); i++) await new Promise((r) => setTimeout(r, 20));
    expect((await c.status()).membership.voters).toEqual(['n1', 'n2', 'n3', 'n4']);
    const leader = await c.leader();
    const removed = c.ids.find((id) => id !== leader)!;
    await member({ type: 'remove', node: removed });
    for (let i = 0; i < 100 && (await c.status()).membership.voters.includes(removed); i++) await new Promise((r) => setTimeout(r, 20));
    expect((await c.status()).membership.voters).not.toContain(removed);
    // Leadership transfer to a named voter.
    const target = ['n1', 'n2', 'n3', 'n4'].find((id) => id !== leader && id !== removed)!;
    await c.call(subjects.kvLeader(c.namespace), { type: 'transfer', to: target });
    for (let i = 0; i < 100 && (await c.status(target)).role !== 'leader'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await c.status(target)).role).toBe('leader');
    await c.put('after-changes', 'ok');
    expect(await c.get('after-changes')).toBe('ok');
  });
});
