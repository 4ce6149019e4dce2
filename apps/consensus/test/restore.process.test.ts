import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { appScript, startReplicas, uniqueNamespace, type AppProcess } from '@synod/testkit';
import { ENGINES, ReplicaCluster } from '@synod/cluster-kit';

/** `main.js restore ...`: exit status and output. */
function restore(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [appScript('consensus'), 'restore', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.each(ENGINES)('%s: offline restore (main.js restore) seeds a new cluster from a saved snapshot', (engine) => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('restores into empty data dirs, refuses a used one and a damaged snapshot, and the new cluster serves the data', async () => {
    const source = await ReplicaCluster.start(3, {}, { engine });
    cleanup.push(() => source.stop());
    const dir = await mkdtemp(join(tmpdir(), 'synod-restore-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await source.put('backup/a', 'alpha');
    await source.put('backup/b', 'beta');
    // The snapshot as `synodctl snapshot save` reads it: chunks from the leader, by token.
    const chunks: Buffer[] = [];
    let token: string | undefined;
    for (let offset = 0, done = false; !done; ) {
      const r = (await source.call(subjects.kvLeader(source.namespace), { type: 'snapshot', offset, ...(token ? { token } : {}) })) as { token: string; data: string; done: boolean };
      token = r.token;
      done = r.done;
      const chunk = Buffer.from(r.data, 'base64');
      chunks.push(chunk);
      offset += chunk.length;
    }
    const file = join(dir, 'store.snap');
    await writeFile(file, Buffer.concat(chunks));

    const peers = ['r1', 'r2', 'r3'];
    const members = await Promise.all(peers.map((id) => restore('--snapshot', file, '--data-dir', join(dir, id), '--peers', peers.join(','), '--engine', engine)));
    for (const r of members) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`restored 2 keys .* for voters r1,r2,r3 \\(engine ${engine}\\)`));
    }
    // Refused, exit 2, naming the argument at fault; nothing written (the other refusals: restore.test.ts).
    const used = await restore('--snapshot', file, '--data-dir', join(dir, 'r1'), '--peers', peers.join(','), '--engine', engine);
    expect(used).toMatchObject({ code: 2, stderr: expect.stringMatching(/--data-dir .*r1 is not empty/) });
    const truncated = join(dir, 'truncated.snap');
    await writeFile(truncated, Buffer.concat(chunks).subarray(0, 40));
    const cut = await restore('--snapshot', truncated, '--data-dir', join(dir, 'x2'), '--peers', 'a', '--engine', engine);
    expect(cut).toMatchObject({ code: 2, stderr: expect.stringMatching(/--snapshot .*truncated\.snap is not a whole Synod snapshot \(truncated or corrupt\)/) });
    expect((await readdir(dir)).sort()).toEqual(['r1', 'r2', 'r3', 'store.snap', 'truncated.snap']);

    const ns = uniqueNamespace('restored');
    const restored: AppProcess[] = await startReplicas({ natsUrl: source.nats.url, namespace: ns, ids: peers, dataRoot: dir, env: { ENGINE: engine } });
    cleanup.push(() => Promise.all(restored.map((a) => a.kill())));
    const read = (await source.call(subjects.kvLeader(ns), { type: 'range', consistency: 'linearizable', request: { key: 'backup/', prefix: true } }, 20_000)) as { kvs: { key: string; value: string }[] };
    expect(read.kvs.map((kv) => [kv.key, kv.value])).toEqual([
      ['backup/a', 'alpha'],
      ['backup/b', 'beta'],
    ]);
    // It takes writes, its log going on after the snapshot's index.
    const written = (await source.call(subjects.kvLeader(ns), { type: 'write', session: { clientId: 'restore-test', seq: 1 }, op: { op: 'put', key: 'after', value: 'restore' } }, 20_000)) as { revision: number };
    expect(written.revision).toBeGreaterThan(2);
  }, 120_000);
});
