import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KvStateMachine } from '@synod/kv-state';
import { EngineWalStorage } from '@synod/wal';
import { parseConfig } from '@synod/service-kit';
import { consensusEnv } from '../src/config.js';
import { ENGINES } from '@synod/engines';
import { restore } from '../src/restore.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synod-restore-unit-'));
  dirs.push(d);
  return d;
}

/** A saved store of two keys at log index 7, as `synodctl snapshot save` writes one. */
function savedStore(): Uint8Array {
  const sm = new KvStateMachine();
  sm.apply(6, { type: 'request', session: { clientId: 'c', seq: 1 }, op: { op: 'put', key: 'a', value: 'alpha' } });
  sm.apply(7, { type: 'request', session: { clientId: 'c', seq: 2 }, op: { op: 'put', key: 'b', value: 'beta' } });
  return sm.snapshot();
}

async function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await restore(args, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

describe('ENGINE', () => {
  it('picks an engine of the table by name, the first by default, and refuses another name', () => {
    const env = { NODE_ID: 'n1', PEERS: 'n1', DATA_DIR: '/tmp/x' };
    expect(parseConfig(consensusEnv, env)).toMatchObject({ ok: true, config: { ENGINE: 'raft' } });
    expect(parseConfig(consensusEnv, { ...env, ENGINE: 'paxos' })).toMatchObject({ ok: true, config: { ENGINE: 'paxos' } });
    expect(parseConfig(consensusEnv, { ...env, ENGINE: 'zab' })).toMatchObject({ ok: false, issues: [{ variable: 'ENGINE', expected: 'expected one of raft, paxos' }] });
  });
});

describe.each([...ENGINES.keys()])('restore --engine %s', (engine) => {
  it('seeds an empty data dir: the engine restarts at the snapshot with the new voters, the state machine from its bytes', async () => {
    const root = await tempDir();
    const file = join(root, 'store.snap');
    await writeFile(file, savedStore());
    const r = await run('--snapshot', file, '--data-dir', join(root, 'n1'), '--peers', 'n1,n2,n3', '--engine', engine);
    expect(r).toMatchObject({ code: 0, err: [] });
    expect(r.out[0]).toMatch(new RegExp(`restored 2 keys \\(revision 2, log index 7\\) into .*n1 for voters n1,n2,n3 \\(engine ${engine}\\)`));
    const module = ENGINES.get(engine)!;
    const { storage, durable } = await EngineWalStorage.open({ dir: join(root, 'n1') }, module.wal);
    try {
      expect(durable?.snapshot).toMatchObject({ index: 7, membership: { voters: ['n1', 'n2', 'n3'], learners: [] } });
      const node = module.create({ id: 'n1', initialMembership: { voters: ['x'], learners: [] }, random: () => 0.5 }, durable);
      expect(node.status()).toMatchObject({ commitIndex: 7, appliedIndex: 7, lastIndex: 7, membership: { voters: ['n1', 'n2', 'n3'] } });
      const sm = KvStateMachine.restore(durable!.snapshot!.data.subarray(0, durable!.snapshot!.data.length));
      expect(sm.range({ key: 'a' })).toMatchObject({ ok: true, result: { kvs: [{ value: 'alpha' }] } });
    } finally {
      await storage.close();
    }
  });
});

describe('restore refuses, naming the file or argument, with status 2', () => {
  it.each([
    ['an unknown engine', (f: string, d: string) => ['--snapshot', f, '--data-dir', d, '--peers', 'n1', '--engine', 'zab'], /--engine zab: expected one of raft, paxos/],
    ['bad peers', (f: string, d: string) => ['--snapshot', f, '--data-dir', d, '--peers', 'n1,a b'], /--peers n1,a b: expected a node id/],
    ['a missing argument', (f: string) => ['--snapshot', f, '--peers', 'n1'], /--data-dir is required/],
    ['an unknown option', (f: string, d: string) => ['--snapshot', f, '--data-dir', d, '--peers', 'n1', '--force'], /Unknown option '--force'/],
    ['a missing snapshot', (_f: string, d: string) => ['--snapshot', join(d, '..', 'none.snap'), '--data-dir', d, '--peers', 'n1'], /--snapshot .*none\.snap: no such file/],
  ])('%s', async (_what, args, message) => {
    const root = await tempDir();
    const file = join(root, 'store.snap');
    await writeFile(file, savedStore());
    const r = await run(...args(file, join(root, 'n1')));
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toMatch(message);
    expect(r.err.join('\n')).toMatch(/usage: main\.js restore --snapshot <file> --data-dir <dir> --peers <ids>/);
  });

  it('a truncated or corrupt snapshot', async () => {
    const root = await tempDir();
    const bytes = savedStore();
    await writeFile(join(root, 'cut.snap'), bytes.subarray(0, bytes.length - 10));
    const flipped = bytes.slice();
    flipped[30] = flipped[30]! ^ 0xff;
    await writeFile(join(root, 'flipped.snap'), flipped);
    for (const name of ['cut.snap', 'flipped.snap']) {
      const r = await run('--snapshot', join(root, name), '--data-dir', join(root, 'n1'), '--peers', 'n1');
      expect(r.code).toBe(2);
      expect(r.err[0]).toMatch(new RegExp(`--snapshot .*${name.replace('.', '\\.')} is not a whole Synod snapshot \\(truncated or corrupt\\)`));
    }
  });

  it('a data dir that is not empty, and leaves it as it was', async () => {
    const root = await tempDir();
    const file = join(root, 'store.snap');
    await writeFile(file, savedStore());
    await mkdir(join(root, 'n1'));
    await writeFile(join(root, 'n1', 'keep.txt'), 'mine');
    const r = await run('--snapshot', file, '--data-dir', join(root, 'n1'), '--peers', 'n1');
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/--data-dir .*n1 is not empty \(it holds keep\.txt\): restore into an empty directory/);
    expect(await readFile(join(root, 'n1', 'keep.txt'), 'utf8')).toBe('mine');
  });
});
