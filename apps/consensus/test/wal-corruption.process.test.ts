import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppProcess, appScript } from '@synod/testkit';
import { ENGINES, ReplicaCluster } from '@synod/cluster-kit';

let c: ReplicaCluster | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

async function lastSegment(dir: string): Promise<string> {
  const segs = (await readdir(dir)).filter((f) => f.endsWith('.wal')).sort();
  return join(dir, segs[segs.length - 1]!);
}

describe.each(ENGINES)('%s: a damaged WAL on a real replica', (engine) => {
  it('a torn tail is repaired on start and the replica catches up', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const victim = c.ids.find((id) => id !== leader)!;
    for (let i = 0; i < 20; i++) await c.put(`t${i}`, `${i}`);
    await c.app(victim).kill();
    // Half a record at the end, as a crash in the middle of a write leaves it.
    await appendFile(await lastSegment(c.dirs.get(victim)!), Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    await c.startReplica(victim);
    const warning = await c.app(victim).waitForLine((l) => l.msg === 'WAL repaired on open', 1000);
    expect(warning).toMatchObject({ wal: { kind: 'torn-tail' } });
    await c.put('after-repair', 'ok');
    for (let i = 0; i < 200 && (await c.get('after-repair', 'stale', victim)) !== 'ok'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await c.get('t19', 'stale', victim)).toBe('19');
    expect(await c.get('after-repair', 'stale', victim)).toBe('ok');
  });

  it('corruption in the middle refuses to start, naming file and offset; the other two keep serving', async () => {
    c = await ReplicaCluster.start(3, {}, { engine });
    const leader = await c.leader();
    const victim = c.ids.find((id) => id !== leader)!;
    for (let i = 0; i < 20; i++) await c.put(`m${i}`, `${i}`);
    await c.app(victim).kill();
    const file = await lastSegment(c.dirs.get(victim)!);
    const bytes = await readFile(file);
    // Flip a byte inside the first record's payload: valid records follow, so it is not a torn tail.
    bytes[12] = bytes[12]! ^ 0xff;
    await writeFile(file, bytes);
    const r = await AppProcess.runToExit({ script: appScript('consensus'), env: c.env(victim) });
    expect(r.code).toBe(1);
    const failure = r.app.lines.find((l) => l.msg === 'failed to start');
    const text = JSON.stringify(failure);
    expect(text).toContain('WAL_CORRUPT');
    expect(text).toContain(file);
    expect(text).toMatch(/offset/);
    await c.put('still-serving', 'yes');
    expect(await c.get('still-serving')).toBe('yes');
    c.apps.delete(victim);
  });
});
