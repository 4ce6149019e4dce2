import { appendFile, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal, WalCorruptionError } from '../src/index.js';
import { bytes, openWal, replayAll, segmentFiles, tempDirs, text } from './helpers.js';

const dirs = tempDirs();
const SEG1 = '0000000000000001.wal';

/** A log with the given records in one segment; returns its dir and each record's byte offset. */
async function logWith(records: string[], segmentBytes?: number): Promise<{ dir: string; offsets: number[] }> {
  const dir = await dirs.make();
  const wal = await Wal.open({ dir, segmentBytes });
  const offsets: number[] = [];
  let off = 0;
  for (const r of records) {
    offsets.push(off);
    await wal.append(bytes(r));
    off += 8 + Buffer.byteLength(r);
  }
  await wal.close();
  return { dir, offsets };
}

async function flipByte(file: string, offset: number): Promise<void> {
  const buf = await readFile(file);
  buf[offset] = buf[offset]! ^ 0x5a;
  await writeFile(file, buf);
}

async function expectCorrupt(dir: string, file: string, offset: number): Promise<WalCorruptionError> {
  const err = await Wal.open({ dir }).then(
    async (w) => {
      await w.close();
      throw new Error('expected the open to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WalCorruptionError);
  const c = err as WalCorruptionError;
  expect(c).toMatchObject({ name: 'WalCorruptionError', code: 'WAL_CORRUPT', retryable: false, file: join(dir, file), offset });
  expect(c.message).toContain(join(dir, file));
  expect(c.message).toContain(`byte offset ${offset}`);
  return c;
}

describe('torn tail', () => {
  it('survives a cut at every byte of the last record: earlier records kept, appends continue, reopen agrees', async () => {
    const records = ['first record', 'second', 'the last record, torn']; // 28 + 14 + 29 bytes framed
    const { dir: source, offsets } = await logWith(records);
    const full = await readFile(join(source, SEG1));
    const lastStart = offsets[2]!;
    for (let cut = lastStart; cut < full.length; cut++) {
      const dir = await dirs.make();
      await writeFile(join(dir, SEG1), full.subarray(0, cut));
      const { wal, warnings } = await openWal({ dir });
      dirs.track(wal);
      expect(text(await replayAll(wal))).toEqual(records.slice(0, 2));
      // A cut exactly at the record boundary is simply a shorter, clean log.
      expect(warnings.map((w) => [w.kind, w.offset])).toEqual(cut === lastStart ? [] : [['torn-tail', lastStart]]);
      expect((await stat(join(dir, SEG1))).size).toBe(lastStart);
      expect(await wal.append(bytes('after'))).toEqual({ firstSeq: 3, lastSeq: 3 });
      await wal.close();

      const again = dirs.track(await Wal.open({ dir }));
      expect(text(await replayAll(again))).toEqual([...records.slice(0, 2), 'after']);
      await again.close();
    }
  });

  it('truncates a tail of zeros (a file extended by a crash before its data landed)', async () => {
    const { dir, offsets } = await logWith(['a', 'bb', 'ccc']);
    const size = (await stat(join(dir, SEG1))).size;
    await appendFile(join(dir, SEG1), Buffer.alloc(4096));
    const { wal, warnings } = await openWal({ dir });
    dirs.track(wal);
    expect(warnings).toMatchObject([{ kind: 'torn-tail', offset: size }]);
    expect(text(await replayAll(wal))).toEqual(['a', 'bb', 'ccc']);
    expect(offsets).toHaveLength(3);
    await wal.close();
  });

  it('treats a damaged payload of the last record as torn', async () => {
    const { dir, offsets } = await logWith(['one', 'two', 'three']);
    await flipByte(join(dir, SEG1), offsets[2]! + 8 + 2);
    const { wal, warnings } = await openWal({ dir });
    dirs.track(wal);
    expect(warnings).toMatchObject([{ kind: 'torn-tail', file: join(dir, SEG1), offset: offsets[2] }]);
    expect(warnings[0]!.message).toMatch(/CRC mismatch/);
    expect(text(await replayAll(wal))).toEqual(['one', 'two']);
    expect((await wal.append(bytes('three again'))).firstSeq).toBe(3);
    await wal.close();
  });

  it('keeps earlier segments whole when the torn tail is in the last one', async () => {
    const { dir } = await logWith(['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee'], 24); // 12 bytes framed, 2 per segment
    const files = await segmentFiles(dir);
    expect(files).toHaveLength(3);
    await truncate(join(dir, files[2]!), 5);
    const { wal, warnings } = await openWal({ dir, segmentBytes: 24 });
    dirs.track(wal);
    expect(warnings).toMatchObject([{ kind: 'torn-tail', offset: 0 }]);
    expect(text(await replayAll(wal))).toEqual(['aaaa', 'bbbb', 'cccc', 'dddd']);
    expect(await wal.append(bytes('ffff'))).toEqual({ firstSeq: 5, lastSeq: 5 });
    await wal.close();
  });
});

describe('corruption', () => {
  it('refuses a damaged payload in the middle, naming the file and offset', async () => {
    const { dir, offsets } = await logWith(['one', 'two', 'three']);
    await flipByte(join(dir, SEG1), offsets[1]! + 8 + 1);
    const err = await expectCorrupt(dir, SEG1, offsets[1]!);
    expect(err.message).toMatch(/CRC mismatch, and a valid record follows at byte offset 22/);
  });

  it('refuses a damaged length in the middle even when it runs past the end of the file', async () => {
    const { dir, offsets } = await logWith(['one', 'two', 'three']);
    await flipByte(join(dir, SEG1), offsets[1]! + 3); // length becomes huge
    await expectCorrupt(dir, SEG1, offsets[1]!);
  });

  it('refuses a damaged CRC field in the middle', async () => {
    const { dir, offsets } = await logWith(['one', 'two', 'three']);
    await flipByte(join(dir, SEG1), offsets[0]! + 5);
    await expectCorrupt(dir, SEG1, 0);
  });

  it('refuses damage in a segment that is not the last, even in its last record', async () => {
    const { dir } = await logWith(['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee'], 24);
    const files = await segmentFiles(dir);
    await flipByte(join(dir, files[0]!), 12 + 9);
    await expectCorrupt(dir, files[0]!, 12);
    await writeFile(join(dir, files[0]!), Buffer.alloc(0));
    await expectCorrupt(dir, files[1]!, 0); // now a gap: segment 1 holds no record, 3 should be 1
  });

  it('refuses a torn record in a segment that is not the last', async () => {
    const { dir } = await logWith(['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee'], 24);
    const files = await segmentFiles(dir);
    await truncate(join(dir, files[1]!), 20);
    const err = await expectCorrupt(dir, files[1]!, 12);
    expect(err.message).toMatch(/not the last/);
  });

  it('refuses a gap between segments', async () => {
    const { dir } = await logWith(['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee', 'ffff'], 24);
    const files = await segmentFiles(dir);
    await unlink(join(dir, files[1]!));
    const err = await expectCorrupt(dir, files[2]!, 0);
    expect(err.message).toMatch(/gap in sequence numbers: expected a segment starting at 3, found one starting at 5/);
  });
});
