import { readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type SnapshotFile, Wal, WalCorruptionError } from '../src/index.js';
import { openWal, tempDirs } from './helpers.js';

const dirs = tempDirs();
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const str = (u: { subarray(): Uint8Array } | undefined): string | undefined => (u === undefined ? undefined : Buffer.from(u.subarray()).toString());

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
    expect(Buffer.compare(fallback!.data.subarray(), Buffer.from(big))).toBe(0);
    expect(fallback!.data.length).toBe(big.length);
    expect([...fallback!.data.subarray(100, 104)]).toEqual([...big.subarray(100, 104)]);
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

  it('streams a snapshot in pieces, readable before commit and after the file is renamed or deleted', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir }));
    const w = await wal.beginSnapshot(7);
    await w.write(b('hello, '));
    await w.write(new Uint8Array(0));
    await w.write(b('world'));
    expect(w.length).toBe(12);
    const early: SnapshotFile = w.payload();
    expect(str(early)).toBe('hello, world');
    expect(str({ subarray: () => early.subarray(7, 99) })).toBe('world');
    expect(await wal.loadLatestSnapshot()).toBeUndefined(); // not committed: not there
    await w.commit(b('{"term":3}'));
    const loaded = await wal.loadLatestSnapshot();
    expect([loaded?.id, str(loaded?.data), Buffer.from(loaded!.meta).toString()]).toEqual([7, 'hello, world', '{"term":3}']);
    await wal.saveSnapshot(8, b('eight'));
    await wal.saveSnapshot(9, b('nine')); // 7 is deleted now
    expect((await readdir(dir)).filter((n) => n.endsWith('.snap')).sort()).toEqual(['snapshot-0000000000000008.snap', 'snapshot-0000000000000009.snap']);
    expect(str(early)).toBe('hello, world');
    expect(str(loaded!.data)).toBe('hello, world');
    early.close();
    loaded!.data.close();
    expect(() => early.subarray(0, 1)).toThrow(/closed/);
    await expect(w.write(b('more'))).rejects.toThrow(/already committed/);
    await wal.close();
  });

  it('drops an aborted stream, and a stream cut by a crash is removed at the next open', async () => {
    const dir = await dirs.make();
    let wal = dirs.track(await Wal.open({ dir }));
    const aborted = await wal.beginSnapshot(3);
    await aborted.write(b('gone'));
    await aborted.abort();
    const cut = await wal.beginSnapshot(4);
    await cut.write(b('half'));
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toHaveLength(1);
    expect(await wal.loadLatestSnapshot()).toBeUndefined();
    await wal.close();
    const opened = await openWal({ dir });
    wal = dirs.track(opened.wal);
    expect(opened.warnings).toMatchObject([{ kind: 'snapshot-temp-removed' }]);
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    await wal.close();
  });

  it('detects damage in the meta and a file cut short', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir }));
    await wal.saveSnapshot(1, b('one'), b('meta-one'));
    await wal.saveSnapshot(2, b('two'), b('meta-two'));
    const second = join(dir, 'snapshot-0000000000000002.snap');
    const size = (await readFile(second)).length;
    await flipByte(second, size - 1); // inside the meta
    expect((await wal.loadLatestSnapshot())?.id).toBe(1);
    await wal.saveSnapshot(3, b('three'), b('meta-three'));
    await truncate(join(dir, 'snapshot-0000000000000003.snap'), 30);
    await expect(wal.loadLatestSnapshot().then((s) => s?.id)).resolves.toBe(1);
    await wal.close();
  });
});
