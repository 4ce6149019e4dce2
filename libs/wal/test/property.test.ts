import { readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Wal } from '../src/index.js';
import { replayAll, tempDirs } from './helpers.js';

const dirs = tempDirs();

type Step =
  | { kind: 'append'; calls: Uint8Array[][] } // concurrent append() calls, each a batch
  | { kind: 'reopen' }
  | { kind: 'release'; fraction: number }; // releaseBefore a seq this far into what was written

const record = fc.uint8Array({ minLength: 0, maxLength: 40 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), calls: fc.array(fc.array(record, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

describe('property: replay equals what was appended', () => {
  it('across random batches, concurrent appends, reopens, releases and segment sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), fc.integer({ min: 16, max: 400 }), fc.double({ min: 0, max: 1.2, noNaN: true }), async (steps, segmentBytes, fromFraction) => {
        const dir = await dirs.make();
        const written: Uint8Array[] = []; // written[i] has seq i + 1
        let released = 1; // every record with seq >= released must still be there
        let wal = dirs.track(await Wal.open({ dir, segmentBytes }));
        for (const s of steps) {
          if (s.kind === 'append') {
            const results = await Promise.all(s.calls.map((batch) => wal.append(batch)));
            // Seqs are handed out in call order, with no holes.
            results.forEach((r, i) => {
              expect(r.firstSeq).toBe(written.length + 1);
              expect(r.lastSeq).toBe(written.length + s.calls[i]!.length);
              written.push(...s.calls[i]!);
            });
          } else if (s.kind === 'reopen') {
            await wal.close();
            wal = dirs.track(await Wal.open({ dir, segmentBytes }));
          } else {
            const seq = Math.floor(s.fraction * written.length) + 1;
            await wal.releaseBefore(seq);
            released = Math.max(released, seq);
          }
          expect(wal.lastSeq).toBe(written.length);
        }
        await wal.close();
        wal = dirs.track(await Wal.open({ dir, segmentBytes }));
        expect(wal.firstSeq).toBeLessThanOrEqual(Math.min(released, written.length + 1));
        const fromSeq = Math.floor(fromFraction * (written.length + 1)) + 1;
        const expected = written.map((data, i) => ({ seq: i + 1, data })).filter((r) => r.seq >= Math.max(fromSeq, wal.firstSeq));
        expect(await replayAll(wal, fromSeq)).toEqual(expected);
        await wal.close();
      }),
      { numRuns: 40 },
    );
  });
});

describe('property: damage never yields wrong records', () => {
  const setup = async (records: Uint8Array[], segmentBytes: number): Promise<{ dir: string; files: string[] }> => {
    const dir = await dirs.make();
    const wal = await Wal.open({ dir, segmentBytes });
    for (const r of records) await wal.append([r]);
    await wal.close();
    return { dir, files: (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort() };
  };
  const records = fc.array(fc.uint8Array({ minLength: 0, maxLength: 30 }), { minLength: 1, maxLength: 15 });

  it('a cut anywhere in the last segment keeps exactly the records that fit before it', async () => {
    await fc.assert(
      fc.asyncProperty(records, fc.integer({ min: 30, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), async (recs, segmentBytes, where) => {
        const { dir, files } = await setup(recs, segmentBytes);
        const last = `${dir}/${files[files.length - 1]!}`;
        const size = (await stat(last)).size;
        const cut = Math.floor(where * size);
        await truncate(last, cut);
        // Records of the last segment are the newest ones, of which those ending by `cut` survive.
        const lastFirst = Number(files[files.length - 1]!.slice(0, 16));
        let end = 0;
        let kept = lastFirst - 1;
        for (const r of recs.slice(lastFirst - 1)) {
          end += 8 + r.length;
          if (end > cut) break;
          kept++;
        }
        const wal = dirs.track(await Wal.open({ dir, segmentBytes }));
        expect(await replayAll(wal)).toEqual(recs.slice(0, kept).map((data, i) => ({ seq: i + 1, data })));
        expect((await wal.append([new Uint8Array([1])])).firstSeq).toBe(kept + 1);
        await wal.close();
      }),
      { numRuns: 60 },
    );
  });

  it('a flipped byte is a torn tail in the last record of the last segment, corruption anywhere else', async () => {
    await fc.assert(
      fc.asyncProperty(
        records,
        fc.integer({ min: 30, max: 200 }),
        fc.nat(),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        async (recs, segmentBytes, fileIndex, where, mask) => {
          const { dir, files } = await setup(recs, segmentBytes);
          const name = files[fileIndex % files.length]!;
          const buf = await readFile(`${dir}/${name}`);
          if (buf.length === 0) return;
          const offset = Math.floor(where * buf.length);
          buf[offset] = buf[offset]! ^ mask;
          await writeFile(`${dir}/${name}`, buf);
          const lastRecordStart = buf.length - 8 - recs[recs.length - 1]!.length;
          if (name === files[files.length - 1] && offset >= lastRecordStart) {
            const wal = dirs.track(await Wal.open({ dir, segmentBytes }));
            expect(await replayAll(wal)).toEqual(recs.slice(0, -1).map((data, i) => ({ seq: i + 1, data })));
            await wal.close();
          } else {
            await expect(Wal.open({ dir, segmentBytes })).rejects.toMatchObject({ code: 'WAL_CORRUPT', file: `${dir}/${name}` });
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});
