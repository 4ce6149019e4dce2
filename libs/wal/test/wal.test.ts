import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanRecords } from '../src/format.js';
import { Wal, WalError } from '../src/index.js';
import { bytes, openWal, replayAll, segmentFiles, tempDirs, text } from './helpers.js';

const dirs = tempDirs();

describe('append and replay', () => {
  it('creates the directory, starts at seq 1 and round-trips across restarts', async () => {
    const dir = join(await dirs.make(), 'nested', 'wal');
    let wal = dirs.track(await Wal.open({ dir }));
    expect([wal.firstSeq, wal.lastSeq]).toEqual([1, 0]);
    expect(await wal.append(bytes('a', 'b'))).toEqual({ firstSeq: 1, lastSeq: 2 });
    expect(await wal.append(bytes('c'))).toEqual({ firstSeq: 3, lastSeq: 3 });
    await wal.close();

    wal = dirs.track(await Wal.open({ dir }));
    expect([wal.firstSeq, wal.lastSeq]).toEqual([1, 3]);
    expect(await wal.append([new Uint8Array(0), ...bytes('e')])).toEqual({ firstSeq: 4, lastSeq: 5 });
    const all = await replayAll(wal);
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(text(all)).toEqual(['a', 'b', 'c', '', 'e']);
    expect(text(await replayAll(wal, 3))).toEqual(['c', '', 'e']);
    expect(await replayAll(wal, 6)).toEqual([]);
    await wal.close();
  });

  it('rotates segments named by their first sequence number and keeps seqs across them', async () => {
    const dir = await dirs.make();
    let wal = dirs.track(await Wal.open({ dir, segmentBytes: 64 }));
    for (let i = 1; i <= 20; i++) await wal.append(bytes(`record-${i}`)); // 8 + 8 or 9 bytes each
    await wal.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(4);
    expect(files[0]).toBe('0000000000000001.wal');
    for (const f of files) expect((await stat(join(dir, f))).size).toBeLessThanOrEqual(64);

    wal = dirs.track(await Wal.open({ dir, segmentBytes: 64 }));
    expect((await wal.append(bytes('record-21'))).firstSeq).toBe(21);
    const all = await replayAll(wal);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(text(all)).toEqual(Array.from({ length: 21 }, (_, i) => `record-${i + 1}`));
    // Each segment's name is the seq of its first record: the previous names plus their record counts.
    let seq = 1;
    for (const f of await segmentFiles(dir)) {
      expect(Number(f.slice(0, 16))).toBe(seq);
      seq += scanRecords(await readFile(join(dir, f))).count;
    }
    expect(seq).toBe(22);
    await wal.close();
  });

  it('puts one append larger than segmentBytes in a segment of its own', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir, segmentBytes: 32 }));
    await wal.append(bytes('x'));
    await wal.append([new Uint8Array(100).fill(7)]);
    await wal.append(bytes('y'));
    expect(await segmentFiles(dir)).toEqual(['0000000000000001.wal', '0000000000000002.wal', '0000000000000003.wal']);
    expect((await replayAll(wal)).map((r) => r.data.length)).toEqual([1, 100, 1]);
    await wal.close();
  });

  it('copies records at append time', async () => {
    const wal = dirs.track(await Wal.open({ dir: await dirs.make() }));
    const buf = new Uint8Array(Buffer.from('before'));
    const done = wal.append([buf]);
    buf.set(Buffer.from('after!'));
    await done;
    expect(text(await replayAll(wal))).toEqual(['before']);
    await wal.close();
  });
});

describe('group commit', () => {
  it('writes 100 concurrent appends with far fewer syncs, in call order, all durable', async () => {
    const dir = await dirs.make();
    let wal = dirs.track(await Wal.open({ dir }));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append(bytes(`r${i}`, `r${i}b`))));
    results.forEach((r, i) => expect(r).toEqual({ firstSeq: 2 * i + 1, lastSeq: 2 * i + 2 }));
    const s = wal.stats;
    expect(s).toMatchObject({ appends: 100, records: 200 });
    expect(s.syncs).toBeLessThanOrEqual(2);
    expect(s.bytes).toBe((await stat(join(dir, '0000000000000001.wal'))).size);
    await wal.close();

    wal = dirs.track(await Wal.open({ dir }));
    expect(text(await replayAll(wal))).toEqual(Array.from({ length: 100 }, (_, i) => [`r${i}`, `r${i}b`]).flat());
    await wal.close();
  });

  it('batches appends that arrive while a sync is in flight', async () => {
    const wal = dirs.track(await Wal.open({ dir: await dirs.make() }));
    // 16 closed-loop writers: each appends, waits, appends again.
    const writer = async (w: number): Promise<number[]> => {
      const seqs: number[] = [];
      for (let i = 0; i < 20; i++) seqs.push((await wal.append(bytes(`w${w}-${i}`))).firstSeq);
      return seqs;
    };
    const perWriter = await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
    expect(wal.stats.appends).toBe(320);
    expect(wal.stats.syncs).toBeLessThan(320 / 4);
    const all = await replayAll(wal);
    expect(all).toHaveLength(320);
    // Each writer's records are in its own order, at the seqs it was told.
    perWriter.forEach((seqs, w) => seqs.forEach((seq, i) => expect(Buffer.from(all[seq - 1]!.data).toString()).toBe(`w${w}-${i}`)));
    await wal.close();
  });
});

describe('timings', () => {
  it('tells the time of every durable write: one per group-commit batch and one per metadata write', async () => {
    const timings: { kind: string; writeMs: number; syncMs: number }[] = [];
    const wal = dirs.track(await Wal.open({ dir: await dirs.make(), onTiming: (t) => timings.push(t) }));
    await Promise.all(Array.from({ length: 20 }, (_, i) => wal.append(bytes(`r${i}`))));
    await wal.setMeta(bytes('m')[0]!);
    const appends = timings.filter((t) => t.kind === 'append');
    expect(appends).toHaveLength(wal.stats.syncs);
    expect(timings.filter((t) => t.kind === 'meta')).toHaveLength(1);
    for (const t of timings) {
      expect(t.writeMs).toBeGreaterThanOrEqual(0);
      expect(t.syncMs).toBeGreaterThan(0);
    }
    await wal.close();
  });
});

describe('close and errors', () => {
  it('close() completes pending appends; later calls reject with WAL_CLOSED', async () => {
    const dir = await dirs.make();
    const wal = await Wal.open({ dir });
    const pending = wal.append(bytes('last'));
    await wal.close();
    await expect(pending).resolves.toEqual({ firstSeq: 1, lastSeq: 1 });
    await expect(wal.append(bytes('late'))).rejects.toMatchObject({ name: 'WalError', code: 'WAL_CLOSED', retryable: false });
    await expect(wal.setMeta(bytes('m')[0]!)).rejects.toMatchObject({ code: 'WAL_CLOSED' });
    await expect(wal.saveSnapshot(1, bytes('s')[0]!)).rejects.toMatchObject({ code: 'WAL_CLOSED' });
    await expect(wal.close()).resolves.toBeUndefined(); // idempotent

    const again = dirs.track(await Wal.open({ dir }));
    expect(text(await replayAll(again))).toEqual(['last']);
    await again.close();
  });

  it('rejects bad arguments and a second open of the same directory', async () => {
    const dir = await dirs.make();
    const wal = dirs.track(await Wal.open({ dir }));
    await expect(wal.append([])).rejects.toMatchObject({ code: 'WAL_BAD_ARGUMENT' });
    await expect(wal.append(['x' as unknown as Uint8Array])).rejects.toBeInstanceOf(WalError);
    await expect(Wal.open({ dir })).rejects.toMatchObject({ code: 'WAL_ALREADY_OPEN' });
    await expect(Wal.open({ dir: await dirs.make(), segmentBytes: 0 })).rejects.toMatchObject({ code: 'WAL_BAD_ARGUMENT' });
    await wal.close();
    const reopened = dirs.track(await Wal.open({ dir }));
    await reopened.close();
  });
});

describe('releaseBefore', () => {
  it('deletes only segments wholly below seq, never the active one, and reopen replays the rest', async () => {
    const dir = await dirs.make();
    let wal = dirs.track(await Wal.open({ dir, segmentBytes: 40 }));
    for (let i = 1; i <= 10; i++) await wal.append(bytes(`rec-${String(i).padStart(2, '0')}`)); // 14 bytes framed: 2 per segment
    expect(await segmentFiles(dir)).toEqual(['1', '3', '5', '7', '9'].map((s) => `${s.padStart(16, '0')}.wal`));

    expect(await wal.releaseBefore(1)).toBe(0);
    expect(await wal.releaseBefore(4)).toBe(1); // segment 3 still holds seq 3
    expect(await wal.releaseBefore(5)).toBe(1);
    expect((await segmentFiles(dir))[0]).toBe('0000000000000005.wal');
    expect(wal.firstSeq).toBe(5);
    expect(text(await replayAll(wal, 1))).toEqual(['rec-05', 'rec-06', 'rec-07', 'rec-08', 'rec-09', 'rec-10']);

    expect(await wal.releaseBefore(1000)).toBe(2); // 5 and 7 go, 9 is active
    expect(await segmentFiles(dir)).toEqual(['0000000000000009.wal']);
    await wal.close();

    const { wal: w2, warnings } = await openWal({ dir, segmentBytes: 40 });
    wal = dirs.track(w2);
    expect(warnings).toEqual([]);
    expect([wal.firstSeq, wal.lastSeq]).toEqual([9, 10]);
    expect((await replayAll(wal)).map((r) => r.seq)).toEqual([9, 10]);
    expect(await wal.append(bytes('rec-11'))).toEqual({ firstSeq: 11, lastSeq: 11 });
    await wal.close();
    expect((await readdir(dir)).sort()).toEqual(['0000000000000009.wal', '0000000000000011.wal', 'meta-a', 'meta-b']);
  });
});

describe('I/O failure', () => {
  it('fails the pending batch and every later write with WAL_FAILED; reopening recovers', async () => {
    const dir = await dirs.make();
    const wal = await Wal.open({ dir });
    await wal.append(bytes('kept'));
    // Pull the file out from under the log, as a dying disk would.
    await (wal as unknown as { active: { close(): Promise<void> } }).active.close();
    const failed = await wal.append(bytes('lost')).catch((e: unknown) => e);
    expect(failed).toMatchObject({ name: 'WalError', code: 'WAL_FAILED', retryable: false });
    expect((failed as Error).message).toMatch(/close and open it again/);
    await expect(wal.append(bytes('later'))).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await expect(wal.setMeta(bytes('m')[0]!)).rejects.toMatchObject({ code: 'WAL_FAILED' });
    await wal.close();

    const again = dirs.track(await Wal.open({ dir }));
    expect(text(await replayAll(again))).toEqual(['kept']);
    expect((await again.append(bytes('next'))).firstSeq).toBe(2);
    await again.close();
  });
});
