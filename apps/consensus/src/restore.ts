import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { DEFAULT_ENGINE, engineNamed } from '@synod/engines';
import { KvStateMachine } from '@synod/kv-state';
import { seedEngineWal } from '@synod/wal';
import { EngineName, NodeIdList } from './config.js';

export const RESTORE_USAGE = 'usage: main.js restore --snapshot <file> --data-dir <dir> --peers <ids> [--engine <name>]';

/** A refusal: the message names the file or argument at fault; the command exits 2. */
class RestoreRefused extends Error {}

/**
 * `main.js restore --snapshot <file> --data-dir <dir> --peers <ids> [--engine raft|paxos]`: seeds
 * the data directory of one member of a new cluster from a snapshot `synodctl snapshot save` wrote,
 * offline, as etcdutl's `snapshot restore` does. Run it once per member with the same `--peers` and
 * `--engine`, then start the replicas on those directories (with that `ENGINE`): the log goes on
 * from the snapshot's last applied entry. It refuses a data directory that is not empty, a snapshot
 * that is truncated or corrupt, and an unknown engine, naming the file or argument, and exits 2.
 * Returns the exit status.
 */
export async function restore(args: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  try {
    const summary = await run(args);
    out(summary);
    return 0;
  } catch (e) {
    if (!(e instanceof RestoreRefused)) throw e;
    err(`restore: ${e.message}\n${RESTORE_USAGE}`);
    return 2;
  }
}

async function run(args: string[]): Promise<string> {
  let values: { snapshot?: string; 'data-dir'?: string; peers?: string; engine?: string };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { snapshot: { type: 'string' }, 'data-dir': { type: 'string' }, peers: { type: 'string' }, engine: { type: 'string' } },
    }));
  } catch (e) {
    throw new RestoreRefused((e as Error).message);
  }
  const file = required(values.snapshot, '--snapshot');
  const dir = resolve(required(values['data-dir'], '--data-dir'));
  const peers = parsed('--peers', NodeIdList, required(values.peers, '--peers'));
  const engineName = parsed('--engine', EngineName, values.engine ?? DEFAULT_ENGINE);
  const engine = engineNamed(engineName);

  const present = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw new RestoreRefused(`--data-dir ${dir}: ${e.code === 'ENOTDIR' ? 'not a directory' : e.message}`);
  });
  if (present.length > 0) throw new RestoreRefused(`--data-dir ${dir} is not empty (it holds ${present.slice(0, 3).join(', ')}${present.length > 3 ? ', ...' : ''}): restore into an empty directory`);

  const data = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new RestoreRefused(`--snapshot ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  let sm: KvStateMachine;
  try {
    sm = KvStateMachine.restore(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } catch (e) {
    throw new RestoreRefused(`--snapshot ${file} is not a whole Synod snapshot (truncated or corrupt): ${(e as Error).message}`);
  }
  // The new log continues after the snapshot's last applied entry.
  const index = Math.max(1, sm.appliedIndex);
  const membership = { voters: peers, learners: [] };
  await seedEngineWal({ dir }, engine.wal, engine.bootstrap({ index, membership, data: new Uint8Array(data) }));
  return `restored ${sm.size} keys (revision ${sm.revision}, log index ${index}) into ${dir} for voters ${peers.join(',')} (engine ${engine.name}); start the replica with DATA_DIR=${dir} ENGINE=${engine.name}`;
}

function required(v: string | undefined, name: string): string {
  if (v === undefined || v.trim() === '') throw new RestoreRefused(`${name} is required`);
  return v;
}

function parsed<T>(name: string, schema: z.ZodType<T>, v: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new RestoreRefused(`${name} ${v}: ${r.error.issues.map((i) => i.message).join('; ')}`);
  return r.data;
}
