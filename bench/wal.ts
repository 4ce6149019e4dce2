// `npm run bench:wal -- [--quick] [--seconds S] [--bytes B]`
//
// Durable appends/s and latency percentiles of @synod/wal on this disk (a temp dir under
// os.tmpdir()), for one small record per append with 1, 16 and 256 concurrent appenders in a closed
// loop. With more appenders group commit writes many appends per fdatasync: the table after the
// latencies shows fdatasyncs/s and appends per sync. Each case then reopens the log and checks that
// every acknowledged record is there. Exits non-zero on any error. `runWalBench` is the same run for
// other benchmarks to include (bench/raft.ts ends with it).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal } from '@synod/wal';
import { benchArgs, closedLoop, machine, printTable, type LoadResult } from './lib.js';

const concurrencies = [1, 16, 256];

/** Runs every case and prints the tables. Resolves false (and sets a failing exit code) on any error. */
export async function runWalBench(quick: boolean, options: { seconds?: number; recordBytes?: number } = {}): Promise<boolean> {
  const seconds = options.seconds ?? (quick ? 1 : 10);
  const recordBytes = options.recordBytes ?? 100;
  const root = await mkdtemp(join(tmpdir(), 'synod-bench-wal-'));
  const results: LoadResult[] = [];
  const syncRows: string[][] = [];
  let failed = false;
  try {
    console.log(`bench:wal ${quick ? '(quick) ' : ''}on ${machine()}`);
    console.log(`${recordBytes}-byte records, one per append (req/s = durable appends/s), ${seconds} s per case, dir ${root}\n`);
    for (const concurrency of concurrencies) {
      const dir = join(root, `c${concurrency}`);
      const wal = await Wal.open({ dir });
      const record = new Uint8Array(recordBytes).fill(concurrency & 0xff);
      let acknowledged = 0;
      const r = await closedLoop(`${concurrency} appender${concurrency === 1 ? '' : 's'}`, concurrency, seconds, async () => {
        await wal.append([record]);
        acknowledged++;
      });
      const s = wal.stats;
      await wal.close();
      results.push(r);
      syncRows.push([r.name, (s.syncs / r.seconds).toFixed(0), (s.appends / Math.max(1, s.syncs)).toFixed(1), (s.bytes / r.seconds / 2 ** 20).toFixed(2)]);

      // Every acknowledged append must be on disk, in full.
      const reopened = await Wal.open({ dir });
      let n = 0;
      for await (const rec of reopened.replay()) {
        if (rec.data.length !== recordBytes || rec.data[0] !== (concurrency & 0xff)) throw new Error(`record ${rec.seq} differs after reopen`);
        n++;
      }
      await reopened.close();
      if (n !== acknowledged || r.errors > 0 || r.requests === 0) {
        console.error(`${r.name}: ${acknowledged} appends acknowledged, ${n} found after reopen, ${r.errors} errors`);
        failed = true;
      }
    }
    printTable(results);
    console.log('');
    const header = ['', 'fdatasync/s', 'appends/sync', 'MiB/s'];
    const widths = header.map((h, i) => Math.max(h.length, ...syncRows.map((row) => row[i]!.length)));
    for (const row of [header, ...syncRows]) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  } catch (err) {
    console.error(err);
    failed = true;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  if (failed) {
    console.error('bench:wal failed');
    process.exitCode = 1;
  }
  return !failed;
}

if (import.meta.main) {
  const cli = benchArgs('wal', { seconds: { type: 'number', help: 'seconds per case (10; quick 1)' }, bytes: { type: 'number', help: 'record size in bytes (100)' } });
  await runWalBench(cli.flag('quick'), { seconds: cli.number('seconds', cli.flag('quick') ? 1 : 10), recordBytes: cli.number('bytes', 100) });
}
