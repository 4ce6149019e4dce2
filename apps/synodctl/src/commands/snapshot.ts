import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
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
  const snapshot = program
    .command('snapshot')
    .description("save a consistent copy of the store's state to a file (a new cluster is seeded from it offline by the replica: `main.js restore`)");

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
}
