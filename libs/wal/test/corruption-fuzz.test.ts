import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Wal, WalCorruptionError } from '../src/index.js';
import { openWal, replayAll, tempDirs } from './helpers.js';

/**
 * The WAL reader fuzzed with random corruption. A torn tail (the last write landed in part: cut,
 * followed by zeros or garbage, or damaged in its last record) is repaired at open, keeping every
 * record before it. Damage anywhere else (valid records after it, or a segment that is not the
 * last) refuses to open with WalCorruptionError naming the file and the byte offset of the
 * damaged record, computed here from the records' sizes.
 */

const dirs = tempDirs();

interface Layout {
  dir: string;
  records: Uint8Array[];
  /** Per segment file: its name and the offset of each of its records (seq = firstSeq + i). */
  segments: { name: string; firstSeq: number; offsets: number[]; size: number }[];
}

async function build(records: Uint8Array[], segmentBytes: number, batch: number): Promise<Layout> {
  const dir = await dirs.make();
  const wal = await Wal.open({ dir, segmentBytes });
  for (let i = 0; i < records.length; i += batch) await wal.append(records.slice(i, i + batch));
  await wal.close();
  const names = (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
  const segments = names.map((name, i) => {
    const firstSeq = Number(name.slice(0, 16));
    const nextSeq = i + 1 < names.length ? Number(names[i + 1]!.slice(0, 16)) : records.length + 1;
    const offsets: number[] = [];
    let off = 0;
    for (let seq = firstSeq; seq < nextSeq; seq++) {
      offsets.push(off);
      off += 8 + records[seq - 1]!.length;
    }
    return { name, firstSeq, offsets, size: off };
  });
  return { dir, records, segments };
}

const records = fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 2, maxLength: 20 });
const shape = { segmentBytes: fc.integer({ min: 24, max: 300 }), batch: fc.integer({ min: 1, max: 4 }) };

describe('WAL reader fuzz: a torn tail is repaired', () => {
  it('cut, zero-filled, garbage-filled or damaged in its last record: every earlier record kept, appends continue', async () => {
    await fc.assert(
      fc.asyncProperty(
        records,
        shape.segmentBytes,
        shape.batch,
        fc.record({
          kind: fc.constantFrom('cut', 'zeros', 'garbage', 'damage-last'),
          where: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          extra: fc.uint8Array({ minLength: 1, maxLength: 64 }),
          mask: fc.integer({ min: 1, max: 255 }),
        }),
        async (recs, segmentBytes, batch, tear) => {
          const l = await build(recs, segmentBytes, batch);
          const last = l.segments[l.segments.length - 1]!;
          const file = join(l.dir, last.name);
          const buf = await readFile(file);
          const lastStart = last.offsets[last.offsets.length - 1] ?? 0;
          let kept = recs.length; // records expected back
          let torn: Buffer;
          if (tear.kind === 'cut') {
            // Somewhere inside the last record (a cut at its very start leaves a clean, shorter log).
            const cut = lastStart + Math.floor(tear.where * (buf.length - lastStart));
            torn = buf.subarray(0, cut);
            kept = recs.length - 1;
          } else if (tear.kind === 'zeros') {
            torn = Buffer.concat([buf, Buffer.alloc(tear.extra.length)]);
          } else if (tear.kind === 'garbage') {
            torn = Buffer.concat([buf, Buffer.from(tear.extra)]);
          } else {
            torn = Buffer.from(buf);
            const at = lastStart + Math.floor(tear.where * (buf.length - lastStart));
            torn[at] = torn[at]! ^ tear.mask;
            kept = recs.length - 1;
          }
          await writeFile(file, torn);
          const { wal, warnings } = await openWal({ dir: l.dir, segmentBytes });
          dirs.track(wal);
          expect(await replayAll(wal)).toEqual(recs.slice(0, kept).map((data, i) => ({ seq: i + 1, data })));
          const tornAt = kept === recs.length ? last.size : lastStart;
          if (torn.length > tornAt) expect(warnings.map((w) => [w.kind, w.file, w.offset])).toEqual([['torn-tail', file, tornAt]]);
          expect((await wal.append([Uint8Array.of(7)])).firstSeq).toBe(kept + 1);
          await wal.close();
          const again = dirs.track(await Wal.open({ dir: l.dir, segmentBytes }));
          expect((await replayAll(again)).length).toBe(kept + 1);
          await again.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('WAL reader fuzz: a bad record in the middle is refused, naming the file and the offset', () => {
  it('a damaged byte, length or range in any record a valid one follows (or in a segment that is not the last)', async () => {
    await fc.assert(
      fc.asyncProperty(
        records,
        shape.segmentBytes,
        shape.batch,
        fc.nat(),
        fc.record({
          kind: fc.constantFrom('flip', 'length', 'zero-range', 'garbage-range'),
          where: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          mask: fc.integer({ min: 1, max: 255 }),
          bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
        }),
        async (recs, segmentBytes, batch, pick, damage) => {
          const l = await build(recs, segmentBytes, batch);
          // Every record but the last of the last segment: acknowledged data follows it.
          const candidates = l.segments.flatMap((s, si) => s.offsets.map((offset, i) => ({ s, si, i, offset }))).filter((c) => !(c.si === l.segments.length - 1 && c.i === c.s.offsets.length - 1));
          const victim = candidates[pick % candidates.length]!;
          const file = join(l.dir, victim.s.name);
          const buf = await readFile(file);
          const size = 8 + recs[victim.s.firstSeq - 1 + victim.i]!.length;
          const at = victim.offset + Math.floor(damage.where * size);
          if (damage.kind === 'flip') buf[at] = buf[at]! ^ damage.mask;
          else if (damage.kind === 'length') buf.writeUInt32LE(buf.readUInt32LE(victim.offset) + 1 + (damage.mask << 8), victim.offset);
          else {
            // A range inside the record (the records after it stay whole: they are what makes it mid-log damage).
            const fill = damage.kind === 'zero-range' ? Buffer.alloc(damage.bytes.length) : Buffer.from(damage.bytes);
            const end = Math.min(victim.offset + size, at + fill.length);
            const before = buf.subarray(at, end).toString('hex');
            fill.copy(buf, at, 0, end - at);
            if (buf.subarray(at, end).toString('hex') === before) return; // nothing changed
          }
          await writeFile(file, buf);
          const err = await Wal.open({ dir: l.dir, segmentBytes }).then(
            async (w) => {
              await w.close();
              return undefined;
            },
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(WalCorruptionError);
          expect(err).toMatchObject({ code: 'WAL_CORRUPT', file, offset: victim.offset });
          expect((err as Error).message).toContain(`${file} at byte offset ${victim.offset}`);
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('replay says where each record lies', () => {
  it('its segment file and the byte offset of its header', async () => {
    const l = await build([Uint8Array.of(1), Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3)], 20, 1);
    const wal = dirs.track(await Wal.open({ dir: l.dir, segmentBytes: 20 }));
    const where: [number, string, number][] = [];
    for await (const r of wal.replay()) where.push([r.seq, r.file, r.offset]);
    const expected = l.segments.flatMap((s) => s.offsets.map((o, i): [number, string, number] => [s.firstSeq + i, join(l.dir, s.name), o]));
    expect(where).toEqual(expected);
    await wal.close();
  });
});
