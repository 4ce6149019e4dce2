import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Wal, type WalOptions, type WalRecord, type WalWarning } from '../src/index.js';

/** A fresh directory under os.tmpdir() per call, removed after each test (with any Wal left open). */
export function tempDirs(): { make: () => Promise<string>; track: (w: Wal) => Wal } {
  const dirs: string[] = [];
  const wals: Wal[] = [];
  afterEach(async () => {
    await Promise.all(wals.splice(0).map((w) => w.close().catch(() => {})));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    make: async () => {
      const d = await mkdtemp(join(tmpdir(), 'synod-wal-test-'));
      dirs.push(d);
      return d;
    },
    track: (w) => {
      wals.push(w);
      return w;
    },
  };
}

/** Opens a Wal and collects the warnings it reports. */
export async function openWal(options: WalOptions): Promise<{ wal: Wal; warnings: WalWarning[] }> {
  const warnings: WalWarning[] = [];
  const wal = await Wal.open({ ...options, onWarning: (w) => warnings.push(w) });
  return { wal, warnings };
}

/** Seq and a copy of the data of every record replayed (where each lies is left out). */
export async function replayAll(wal: Wal, fromSeq = 1): Promise<Pick<WalRecord, 'seq' | 'data'>[]> {
  const out: Pick<WalRecord, 'seq' | 'data'>[] = [];
  for await (const r of wal.replay(fromSeq)) out.push({ seq: r.seq, data: Uint8Array.from(r.data) });
  return out;
}

/** Records as strings, for readable comparisons. */
export const text = (records: Pick<WalRecord, 'data'>[]): string[] => records.map((r) => Buffer.from(r.data).toString());
export const bytes = (...s: string[]): Uint8Array[] => s.map((x) => new Uint8Array(Buffer.from(x)));

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}
