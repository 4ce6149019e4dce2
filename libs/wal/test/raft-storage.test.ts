import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snapshotBytes } from '@synod/replog';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftNode, raftBootstrap, raftWalFormat, type Entry, type HardState, type RaftDurableState, type RaftSnapshotExtra, encodeEntry } from '@synod/raft';
import { seededRandom } from '@synod/testkit';
import { EngineWalStorage, Wal, WalCorruptionError, seedEngineWal } from '../src/index.js';

type RaftWalStorage = EngineWalStorage<Entry, HardState, RaftSnapshotExtra>;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const enc = new TextEncoder();
const dec = new TextDecoder();

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'synod-raft-wal-'));
  dirs.push(d);
  return d;
}

/** A single-voter node driven through the storage, as a replica drives it. */
async function drive(node: RaftNode, storage: RaftWalStorage, applied: string[]): Promise<void> {
  while (node.hasReady()) {
    const rd = node.ready();
    await storage.persist(rd);
    for (const e of rd.committed) if (e.kind === 'command') applied.push(dec.decode(e.data));
    node.advance();
  }
}

function makeNode(durable: RaftDurableState | undefined, seed: number): RaftNode {
  return new RaftNode({ id: 'a', initialMembership: { voters: ['a'], learners: [] }, random: seededRandom(seed) }, durable);
}

async function lead(node: RaftNode, storage: RaftWalStorage, applied: string[] = []): Promise<void> {
  for (let i = 0; i < 40 && node.role !== 'leader'; i++) {
    node.tick();
    await drive(node, storage, applied);
  }
  expect(node.role).toBe('leader');
}

describe('Raft on the shared WAL', () => {
  it('takes a snapshot written in pieces while writes go on, and restarts from it without loading it whole', async () => {
    const dir = await tempDir();
    let { storage } = await EngineWalStorage.open({ dir, segmentBytes: 2048 }, raftWalFormat);
    const node = makeNode(undefined, 3);
    await lead(node, storage);
    const applied: string[] = [];
    for (let i = 0; i < 40; i++) node.propose(enc.encode(`v${i}`));
    await drive(node, storage, applied);
    const at = node.log.applied;
    const w = await storage.beginLocalSnapshot(at);
    await w.write(enc.encode('state'));
    // Entries keep coming while the snapshot is written.
    for (let i = 40; i < 50; i++) node.propose(enc.encode(`v${i}`));
    await drive(node, storage, applied);
    await w.write(enc.encode(`@${at}`));
    const data = w.data();
    expect(data).not.toBeInstanceOf(Uint8Array);
    await w.commit(node.snapshotTaken(at, data));
    expect(dec.decode(snapshotBytes(node.log.snapshot!.data))).toBe(`state@${at}`);
    expect(dec.decode(node.log.snapshot!.data.subarray(5, 6))).toBe('@');
    for (let i = 50; i < 55; i++) node.propose(enc.encode(`v${i}`));
    await drive(node, storage, applied);
    const last = node.log.lastIndex();
    await storage.close();

    const reopened = await EngineWalStorage.open({ dir, segmentBytes: 2048 }, raftWalFormat);
    storage = reopened.storage;
    const durable = reopened.durable;
    expect(durable?.snapshot?.index).toBe(at);
    expect(durable?.snapshot?.data).not.toBeInstanceOf(Uint8Array);
    expect(dec.decode(snapshotBytes(durable!.snapshot!.data))).toBe(`state@${at}`);
    const restarted = makeNode(durable, 4);
    expect(restarted.log.lastIndex()).toBe(last);
    const replayed: string[] = [];
    await lead(restarted, storage, replayed);
    await drive(restarted, storage, replayed);
    expect(replayed).toEqual(applied.slice(applied.length - (last - at)));
    await storage.close();
  });

  it('an aborted snapshot leaves the previous one in force', async () => {
    const dir = await tempDir();
    let { storage } = await EngineWalStorage.open({ dir }, raftWalFormat);
    const node = makeNode(undefined, 5);
    await lead(node, storage);
    for (let i = 0; i < 10; i++) node.propose(enc.encode(`v${i}`));
    await drive(node, storage, []);
    await storage.saveLocalSnapshot(node.snapshotTaken(5, enc.encode('five')));
    const w = await storage.beginLocalSnapshot(node.log.applied);
    await w.write(enc.encode('never'));
    await w.abort();
    await storage.close();
    const reopened = await EngineWalStorage.open({ dir }, raftWalFormat);
    storage = reopened.storage;
    const durable = reopened.durable;
    expect([durable?.snapshot?.index, dec.decode(snapshotBytes(durable!.snapshot!.data))]).toEqual([5, 'five']);
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
    await storage.close();
  });

  it('restarts with term, vote, commit, log and snapshot intact, replaying only what follows the snapshot', async () => {
    const dir = await tempDir();
    let { storage, durable } = await EngineWalStorage.open({ dir, segmentBytes: 2048 }, raftWalFormat);
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
    const before = { term: node.term, vote: node.vote, commit: node.log.committed, last: node.log.lastIndex() };
    await storage.close();

    ({ storage, durable } = await EngineWalStorage.open({ dir, segmentBytes: 2048 }, raftWalFormat));
    const restarted = makeNode(durable, 2);
    expect({ term: restarted.term, vote: restarted.vote, last: restarted.log.lastIndex() }).toEqual({ term: before.term, vote: before.vote, last: before.last });
    // A commit index that moved without a term or vote change was not synced: it may be behind,
    // never ahead, and never below the snapshot.
    expect(restarted.log.committed).toBeLessThanOrEqual(before.commit);
    expect(restarted.log.committed).toBeGreaterThanOrEqual(30);
    expect(restarted.log.snapshot?.index).toBe(30);
    expect(dec.decode(snapshotBytes(restarted.log.snapshot!.data))).toBe('state@30');
    // Leading again commits everything; replay hands out exactly the entries after the snapshot.
    const replayed: string[] = [];
    await drive(restarted, storage, replayed);
    await lead(restarted, storage, replayed);
    await drive(restarted, storage, replayed);
    // Index 1 is the leader's no-op, so command vN sits at index N + 2.
    expect(replayed).toEqual(Array.from({ length: 60 - 29 }, (_, i) => `v${i + 29}`));
    await storage.close();
  });

  it('keeps disk bounded: segments older than the older kept snapshot are released', async () => {
    const dir = await tempDir();
    const { storage } = await EngineWalStorage.open({ dir, segmentBytes: 1024 }, raftWalFormat);
    const node = makeNode(undefined, 3);
    await lead(node, storage);
    const applied: string[] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 40; i++) node.propose(enc.encode(`r${round}-${i}-${'x'.repeat(40)}`));
      await drive(node, storage, applied);
      await storage.saveLocalSnapshot(node.snapshotTaken(node.log.applied, enc.encode(`state@${node.log.applied}`)));
    }
    const segments = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
    // 400 entries of ~90 bytes would be ~40 segments without releasing.
    expect(segments.length).toBeLessThan(12);
    await storage.close();
    const { storage: again, durable } = await EngineWalStorage.open({ dir, segmentBytes: 1024 }, raftWalFormat);
    const restarted = makeNode(durable, 4);
    expect(restarted.log.committed).toBe(node.log.committed);
    await again.close();
  });

  it('a snapshot installed from the leader supersedes the records before it', async () => {
    const dir = await tempDir();
    const { storage } = await EngineWalStorage.open({ dir }, raftWalFormat);
    // Entries written by a follower, then replaced wholesale by a leader's snapshot.
    await storage.persist({ records: [1, 2, 3].map((index) => ({ index, term: 1, type: 'normal' as const, data: enc.encode(`old${index}`) })), meta: { term: 1, vote: undefined, commit: 1 } });
    await storage.persist({
      snapshot: { index: 10, membership: { voters: ['a', 'b', 'c'], learners: [] }, extra: { term: 2 }, data: enc.encode('snap@10') },
      records: [{ index: 11, term: 2, type: 'normal', data: enc.encode('new11') }],
      meta: { term: 2, vote: undefined, commit: 11 },
    });
    await storage.close();
    const { storage: again, durable } = await EngineWalStorage.open({ dir }, raftWalFormat);
    expect(durable?.snapshot?.index).toBe(10);
    expect(durable?.records.map((e) => e.index)).toEqual([11]);
    expect(durable?.meta).toEqual({ term: 2, vote: undefined, commit: 11 });
    await again.close();
  });
});

describe('restoring a backup into an empty data dir', () => {
  it('a node started on a bootstrap snapshot begins at its index with its membership', async () => {
    const dir = await tempDir();
    await seedEngineWal({ dir }, raftWalFormat, raftBootstrap({ index: 500, membership: { voters: ['a'], learners: [] }, data: enc.encode('backup') }));
    const { storage, durable } = await EngineWalStorage.open({ dir }, raftWalFormat);
    const node = makeNode(durable, 5);
    expect(node.log.lastIndex()).toBe(500);
    expect(node.log.committed).toBe(500);
    expect(dec.decode(snapshotBytes(node.log.snapshot!.data))).toBe('backup');
    await lead(node, storage);
    const applied: string[] = [];
    node.propose(enc.encode('next'));
    await drive(node, storage, applied);
    expect(applied).toEqual(['next']);
    expect(node.log.lastIndex()).toBe(502);
    await storage.close();
    await expect(seedEngineWal({ dir }, raftWalFormat, raftBootstrap({ index: 1, membership: { voters: ['a'], learners: [] }, data: new Uint8Array() }))).rejects.toThrow(/already holds/);
  });
});

describe('a record that does not decode', () => {
  it('refuses to start, naming the segment file and the byte offset of the record', async () => {
    const dir = await tempDir();
    const first = encodeEntry({ index: 1, term: 1, type: 'noop', data: new Uint8Array(0) });
    // CRC-valid, so the WAL keeps it; not a Raft entry (entry type 9).
    const bad = Uint8Array.of(9, ...new Uint8Array(24));
    const wal = await Wal.open({ dir });
    await wal.append([first, bad, encodeEntry({ index: 2, term: 1, type: 'noop', data: new Uint8Array(0) })]);
    await wal.close();
    const err = await EngineWalStorage.open({ dir }, raftWalFormat).then(
      () => undefined,
      (e: unknown) => e,
    );
    const file = join(dir, '0000000000000001.wal');
    expect(err).toBeInstanceOf(WalCorruptionError);
    expect(err).toMatchObject({ code: 'WAL_CORRUPT', file, offset: 8 + first.length });
    expect((err as Error).message).toMatch(new RegExp(`${file} at byte offset ${8 + first.length}: Raft record 2 does not decode: unknown entry type 9`));
    // The directory is free again: the failed open closed the WAL.
    await (await Wal.open({ dir })).close();
  });
});
