import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snapshotBytes } from '@synod/replog';
import { afterEach, describe, expect, it } from 'vitest';
import { PaxosNode, paxosBootstrap, paxosWalFormat, type PaxosDurableState, type PaxosMeta, type PaxosSnapshotExtra, type Slot } from '@synod/paxos';
import { seededRandom } from '@synod/testkit';
import { EngineWalStorage, seedEngineWal } from '../src/index.js';

type PaxosWalStorage = EngineWalStorage<Slot, PaxosMeta, PaxosSnapshotExtra>;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const enc = new TextEncoder();
const dec = new TextDecoder();

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synod-paxos-wal-'));
  dirs.push(d);
  return d;
}

/** A single-acceptor node driven through the storage, as a replica drives it. */
async function drive(node: PaxosNode, storage: PaxosWalStorage, applied: string[]): Promise<void> {
  while (node.hasReady()) {
    const rd = node.ready();
    await storage.persist(rd);
    for (const e of rd.committed) if (e.kind === 'command') applied.push(dec.decode(e.data));
    node.advance();
  }
}

function makeNode(durable: PaxosDurableState | undefined, seed: number): PaxosNode {
  return new PaxosNode({ id: 'a', initialMembership: { voters: ['a'], learners: [] }, random: seededRandom(seed) }, durable);
}

async function lead(node: PaxosNode, storage: PaxosWalStorage, applied: string[] = []): Promise<void> {
  for (let i = 0; i < 40 && node.role !== 'leader'; i++) {
    node.tick();
    await drive(node, storage, applied);
  }
  expect(node.role).toBe('leader');
}

const value = (index: number, round: number, v: string): Slot => ({ index, ballot: { round, node: 'b' }, kind: 'command', data: enc.encode(v) });

describe('Multi-Paxos on the shared WAL', () => {
  it('restarts with promise, accepted values and snapshot intact, replaying only what follows the snapshot', async () => {
    const dir = await tempDir();
    let { storage, durable } = await EngineWalStorage.open({ dir, segmentBytes: 2048 }, paxosWalFormat);
    expect(durable).toBeUndefined();
    const node = makeNode(undefined, 1);
    await lead(node, storage);
    const applied: string[] = [];
    for (let i = 0; i < 50; i++) node.propose(enc.encode(`v${i}`));
    await drive(node, storage, applied);
    expect(applied).toHaveLength(50);
    await storage.saveLocalSnapshot(node.snapshotTaken(30, enc.encode('state@30')));
    for (let i = 50; i < 60; i++) node.propose(enc.encode(`v${i}`));
    await drive(node, storage, applied);
    const before = { promised: node.promised, commit: node.log.committed, last: node.log.lastIndex() };
    await storage.close();

    ({ storage, durable } = await EngineWalStorage.open({ dir, segmentBytes: 2048 }, paxosWalFormat));
    const restarted = makeNode(durable, 2);
    expect({ promised: restarted.promised, last: restarted.log.lastIndex() }).toEqual({ promised: before.promised, last: before.last });
    // The chosen prefix is written lazily (with the next promise): behind, never ahead, never below the snapshot.
    expect(restarted.log.committed).toBeLessThanOrEqual(before.commit);
    expect(restarted.log.committed).toBeGreaterThanOrEqual(30);
    expect(dec.decode(snapshotBytes(restarted.log.snapshot!.data))).toBe('state@30');
    const replayed: string[] = [];
    await drive(restarted, storage, replayed);
    await lead(restarted, storage, replayed);
    await drive(restarted, storage, replayed);
    expect(replayed).toEqual(Array.from({ length: 60 - 30 }, (_, i) => `v${i + 30}`));
    await storage.close();
  });

  it('a later record for a slot supersedes only that slot', async () => {
    const dir = await tempDir();
    const { storage } = await EngineWalStorage.open({ dir }, paxosWalFormat);
    await storage.persist({ records: [value(1, 1, 'x1'), value(2, 1, 'x2'), value(3, 1, 'x3')], meta: { promised: { round: 1, node: 'b' }, commit: 0 } });
    await storage.persist({ records: [value(2, 2, 'y2')], meta: { promised: { round: 2, node: 'b' }, commit: 0 } });
    await storage.close();
    const { storage: again, durable } = await EngineWalStorage.open({ dir }, paxosWalFormat);
    const node = makeNode(durable, 3);
    expect([1, 2, 3].map((i) => dec.decode(node.log.entry(i)!.data))).toEqual(['x1', 'y2', 'x3']);
    expect(node.log.entry(2)!.ballot).toEqual({ round: 2, node: 'b' });
    expect(node.promised).toEqual({ round: 2, node: 'b' });
    await again.close();
  });

  it('keeps disk bounded: segments older than the older kept snapshot are released', async () => {
    const dir = await tempDir();
    const { storage } = await EngineWalStorage.open({ dir, segmentBytes: 1024 }, paxosWalFormat);
    const node = makeNode(undefined, 3);
    await lead(node, storage);
    const applied: string[] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 40; i++) node.propose(enc.encode(`r${round}-${i}-${'x'.repeat(40)}`));
      await drive(node, storage, applied);
      await storage.saveLocalSnapshot(node.snapshotTaken(node.log.applied, enc.encode(`state@${node.log.applied}`)));
    }
    const segments = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
    expect(segments.length).toBeLessThan(12);
    await storage.close();
    const { storage: again, durable } = await EngineWalStorage.open({ dir, segmentBytes: 1024 }, paxosWalFormat);
    const restarted = makeNode(durable, 4);
    expect(restarted.log.committed).toBe(node.log.committed);
    await again.close();
  });

  it('a snapshot installed from the leader supersedes the records before it', async () => {
    const dir = await tempDir();
    const { storage } = await EngineWalStorage.open({ dir }, paxosWalFormat);
    await storage.persist({ records: [value(1, 1, 'old1'), value(2, 1, 'old2')], meta: { promised: { round: 1, node: 'b' }, commit: 1 } });
    const m = { voters: ['a', 'b', 'c'], learners: [] };
    await storage.persist({ snapshot: { index: 10, membership: m, extra: { configs: [{ from: 0, membership: m }] }, data: enc.encode('snap@10') }, records: [value(11, 2, 'new11')], meta: { promised: { round: 2, node: 'b' }, commit: 11 } });
    await storage.close();
    const { storage: again, durable } = await EngineWalStorage.open({ dir }, paxosWalFormat);
    expect(durable?.snapshot?.index).toBe(10);
    expect(durable?.records.map((e) => e.index)).toEqual([11]);
    expect(durable?.meta).toEqual({ promised: { round: 2, node: 'b' }, commit: 11 });
    await again.close();
  });

  it('a node started on a bootstrap snapshot begins at its index', async () => {
    const dir = await tempDir();
    await seedEngineWal({ dir }, paxosWalFormat, paxosBootstrap({ index: 500, membership: { voters: ['a'], learners: [] }, data: enc.encode('backup') }));
    const { storage, durable } = await EngineWalStorage.open({ dir }, paxosWalFormat);
    const node = makeNode(durable, 5);
    expect(node.log.committed).toBe(500);
    await lead(node, storage);
    const applied: string[] = [];
    node.propose(enc.encode('next'));
    await drive(node, storage, applied);
    expect(applied).toEqual(['next']);
    expect(node.log.lastIndex()).toBe(501);
    await storage.close();
    await expect(seedEngineWal({ dir }, paxosWalFormat, paxosBootstrap({ index: 1, membership: { voters: ['a'], learners: [] }, data: new Uint8Array() }))).rejects.toThrow(/already holds/);
  });
});
