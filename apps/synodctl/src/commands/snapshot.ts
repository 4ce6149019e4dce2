import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { KvStateMachine } from '@synod/kv-state';
import { NodeIdSchema, SynodError } from '@synod/protocol';
import { writeBootstrapSnapshot } from '@synod/raft-wal';
import { UsageError } from '../errors.js';
import type { Helpers } from './types.js';

/** Writes `data` to `file` atomically: a temporary file beside it, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const target = resolve(file);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } catch {
    // Some file systems refuse to fsync a folder; the rename happened anyway.
  } finally {
    await d.close();
  }
}

export function registerSnapshot(program: Command, h: Helpers): void {
  const snapshot = program.command('snapshot').description("save the store's state, or seed a new cluster from a saved one");

  snapshot
    .command('save')
    .description('read a consistent snapshot from the leader and write it to a file (atomically)')
    .argument('<file>', 'where to write it')
    .action(
      h.run(async (ctx, [file]) => {
        const c = await ctx.client();
        const snap = await c.snapshotWithInfo();
        await writeFileAtomic(file as string, snap.data);
        const info = { file: resolve(file as string), bytes: snap.data.length, index: snap.index, revision: snap.revision };
        ctx.print(info, `snapshot saved to ${info.file} (${info.bytes} bytes, revision ${info.revision}, log index ${info.index})`);
      }),
    );

  snapshot
    .command('restore')
    .description('seed an empty data dir from a saved snapshot (run once per member of the new cluster, then start the replicas on those dirs)')
    .argument('<file>', 'a file written by `snapshot save`')
    .requiredOption('--data-dir <dir>', "the new replica's DATA_DIR (must be empty or absent)")
    .requiredOption('--peers <ids>', "the new cluster's voters, comma-separated (the same list for every member)")
    .action(
      h.run(async (ctx, [file], opts: { dataDir: string; peers: string }) => {
        const peers = opts.peers.split(',').map((p) => p.trim()).filter((p) => p !== '');
        const bad = peers.find((p) => !NodeIdSchema.safeParse(p).success);
        if (peers.length === 0 || bad !== undefined) throw new UsageError(`--peers must be comma-separated node ids${bad ? `, got ${JSON.stringify(bad)}` : ''}`);
        const data = new Uint8Array(await readFile(file as string));
        let sm: KvStateMachine;
        try {
          sm = KvStateMachine.restore(data);
        } catch (err) {
          throw new SynodError('BAD_REQUEST', `${file as string} is not a Synod snapshot: ${err instanceof Error ? err.message : String(err)}`);
        }
        // The new log continues after the snapshot's last applied entry, in term 1.
        const index = Math.max(1, sm.appliedIndex);
        await writeBootstrapSnapshot(resolve(opts.dataDir), { index, term: 1, membership: { voters: peers, learners: [] }, data });
        const info = { dataDir: resolve(opts.dataDir), index, revision: sm.revision, keys: sm.size, voters: peers };
        ctx.print(info, `restored ${info.keys} keys (revision ${info.revision}) into ${info.dataDir}; start the replica with DATA_DIR=${info.dataDir}`);
      }),
    );
}
