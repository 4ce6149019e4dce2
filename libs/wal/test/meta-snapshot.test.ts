import { readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal, WalCorruptionError } from '../src/index.js';
import { openWal, tempDirs } from './helpers.js';

const dirs = tempDirs();
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const str = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : Buffer.from(u).toString());

async function flipByte(file: string, offset: number): Promise<void> {
  const buf = await readFile(file);
  buf[offset] = buf[offset]! ^ 0x5a;
  await writeFile(file, buf);
}

describe('metadata', () => {
  it('is undefined at first, then the latest value across reopens', async () => {
    const dir = await dirs.make();
    let wal = dirs.track(await Wal.open({ dir }));
    expect(wal.meta).toBeUndefined();
    await wal.setMeta(b('term=1 vote=a'));
    expect(str(wal.meta)).toBe('term=1 vote=a');
    await wal.setMeta(b('term=2 vote=b, a longer value'));
    await wal.setMeta(b('t=3')); // shorter than what its slot held: the slot is cut to size
    await wal.close();
    wal = dirs.track(await Wal.open({ dir }));
    expect(str(wal.meta)).toBe('t=3');
    await wal.close();
  });

  it('coalesces concurrent writes: the last call wins and all resolve', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir }));
    await Promise.all(Array.from({ length: 50 }, (_, i) => wal.setMeta(b(`v${i}`))));
    expect(str(wal.meta)).toBe('v49');
    await wal.close();
    const again = dirs.track(await Wal.open({ dir }));
    expect(str(again.meta)).toBe('v49');
    await again.close();
  });

  it('falls back to the previous value when the newest slot is torn or damaged, and writes over the bad slot next', async () => {
    for (const damage of ['truncate', 'flip'] as const) {
      const dir = await dirs.make();
      let wal = dirs.track(await Wal.open({ dir }));
      await wal.setMeta(b('one')); // version 1, slot a
      await wal.setMeta(b('two')); // version 2, slot b
      await wal.close();
      if (damage === 'truncate') await truncate(join(dir, 'meta-b'), 10);
      else await flipByte(join(dir, 'meta-b'), 17);

      const opened = await openWal({ dir });
      wal = dirs.track(opened.wal);
      expect(str(wal.meta)).toBe('one');
      expect(opened.warnings).toMatchObject([{ kind: 'meta-slot-invalid', file: join(dir, 'meta-b') }]);
      await wal.setMeta(b('three'));
      await wal.close();
      const metaA = await readFile(join(dir, 'meta-a'));
      expect(metaA.subarray(16).toString()).toBe('one'); // the good slot was left alone

      wal = dirs.track(await Wal.open({ dir }));
      expect(str(wal.meta)).toBe('three');
      await wal.close();
    }
  });

  it('refuses to open when both slots are damaged', async () => {
    const dir = await dirs.make();
    const wal = await Wal.open({ dir });
    await wal.setMeta(b('one'));
    await wal.setMeta(b('two'));
    await wal.close();
    await flipByte(join(dir, 'meta-a'), 0);
    await flipByte(join(dir, 'meta-b'), 16);
    await expect(Wal.open({ dir })).rejects.toBeInstanceOf(WalCorruptionError);
  });
});

describe('snapshots', () => {
  it('saves and loads, keeping the newest two', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir }));
    expect(await wal.loadLatestSnapshot()).toBeUndefined();
    const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    await wal.saveSnapshot(10, b('ten'));
    await wal.saveSnapshot(20, big);
    await wal.saveSnapshot(30, b('thirty'));
    expect((await readdir(dir)).filter((n) => n.startsWith('snapshot-')).sort()).toEqual(['snapshot-0000000000000020.snap', 'snapshot-0000000000000030.snap']);
    const latest = await wal.loadLatestSnapshot();
    expect(latest?.id).toBe(30);
    expect(str(latest?.data)).toBe('thirty');
    await wal.close();

    const again = dirs.track(await Wal.open({ dir }));
    await writeFile(join(dir, 'snapshot-0000000000000030.snap'), Buffer.alloc(0)); // make 20 the valid newest
    const fallback = await again.loadLatestSnapshot();
    expect(fallback?.id).toBe(20);
    expect(Buffer.compare(Buffer.from(fallback!.data), Buffer.from(big))).toBe(0);
    await again.close();
  });

  it('falls back to the previous snapshot when the newest is damaged, and sets the damaged one aside', async () => {
    const dir = await dirs.make();
    const { wal, warnings } = await openWal({ dir });
    dirs.track(wal);
    await wal.saveSnapshot(1, b('old state'));
    await wal.saveSnapshot(2, b('new state'));
    const newest = join(dir, 'snapshot-0000000000000002.snap');
    await flipByte(newest, 25);
    const loaded = await wal.loadLatestSnapshot();
    expect([loaded?.id, str(loaded?.data)]).toEqual([1, 'old state']);
    expect(warnings).toMatchObject([{ kind: 'snapshot-corrupt', file: newest }]);
    expect(warnings[0]!.message).toMatch(/snapshot CRC mismatch/);
    expect((await readdir(dir)).filter((n) => n.startsWith('snapshot-')).sort()).toEqual(['snapshot-0000000000000001.snap', 'snapshot-0000000000000002.snap.corrupt']);
    // The damaged one no longer counts among the two kept.
    await wal.saveSnapshot(3, b('newer'));
    expect((await wal.loadLatestSnapshot())?.id).toBe(3);
    expect((await readdir(dir)).filter((n) => n.endsWith('.snap')).sort()).toEqual(['snapshot-0000000000000001.snap', 'snapshot-0000000000000003.snap']);
    await wal.close();
  });

  it('throws when the only snapshot is damaged, every time', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir }));
    await wal.saveSnapshot(5, b('state'));
    const file = join(dir, 'snapshot-0000000000000005.snap');
    await flipByte(file, 3);
    for (let i = 0; i < 2; i++) {
      await expect(wal.loadLatestSnapshot()).rejects.toMatchObject({ name: 'WalCorruptionError', code: 'WAL_CORRUPT', retryable: false, file, offset: 0 });
    }
    await wal.close();
  });

  it('removes a leftover temporary snapshot at open and never loads it', async () => {
    const dir = await dirs.make();
    let wal = dirs.track(await Wal.open({ dir }));
    await wal.saveSnapshot(1, b('done'));
    await wal.close();
    await writeFile(join(dir, 'snapshot-0000000000000002.snap.tmp'), b('half a snapsh'));
    const opened = await openWal({ dir });
    wal = dirs.track(opened.wal);
    expect(opened.warnings).toMatchObject([{ kind: 'snapshot-temp-removed' }]);
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    expect(str((await wal.loadLatestSnapshot())?.data)).toBe('done');
    await wal.close();
  });

  it('rejects a bad id', async () => {
    const wal = dirs.track(await Wal.open({ dir: await dirs.make() }));
    await expect(wal.saveSnapshot(-1, b('x'))).rejects.toMatchObject({ code: 'WAL_BAD_ARGUMENT' });
    await expect(wal.saveSnapshot(1.5, b('x'))).rejects.toMatchObject({ code: 'WAL_BAD_ARGUMENT' });
    await wal.close();
  });
});
