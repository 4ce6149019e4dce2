import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Wal } from '@synod/wal';
import { seededRandom } from '@synod/testkit';
import { RaftNode, decodeEntry, decodeHardState, decodeSnapshotMeta, encodeEntry, encodeHardState, encodeSnapshotMeta, type RaftDurableState, type RaftSnapshot } from '../src/index.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Persists a node's Readies in a real WAL, as the consensus replica will, and reads them back. */
async function persist(wal: Wal, rd: ReturnType<RaftNode['ready']>): Promise<void> {
  if (rd.snapshot) await saveSnapshot(wal, rd.snapshot as RaftSnapshot, wal.lastSeq + 1);
  if (rd.records.length > 0) await wal.append(rd.records.map(encodeEntry));
  if (rd.meta) await wal.setMeta(encodeHardState(rd.meta));
}

/** Snapshot file: [u32 meta length][meta JSON incl. the WAL seq to replay from][state bytes]. */
async function saveSnapshot(wal: Wal, s: RaftSnapshot, replayFrom: number): Promise<void> {
  const meta = encodeSnapshotMeta({ index: s.index, membership: s.membership, extra: { ...s.extra, replayFrom } as RaftSnapshot['extra'] });
  const file = new Uint8Array(4 + meta.length + s.data.length);
  new DataView(file.buffer).setUint32(0, meta.length, true);
  file.set(meta, 4);
  file.set(s.data, 4 + meta.length);
  await wal.saveSnapshot(s.index, file);
}

async function load(dir: string): Promise<{ wal: Wal; durable: RaftDurableState }> {
  const wal = await Wal.open({ dir, segmentBytes: 4096 });
  const durable: RaftDurableState = { records: [] };
  let from = 1;
  const snap = await wal.loadLatestSnapshot();
  if (snap) {
    const len = new DataView(snap.data.buffer, snap.data.byteOffset).getUint32(0, true);
    const meta = decodeSnapshotMeta(snap.data.subarray(4, 4 + len));
    from = (meta.extra as unknown as { replayFrom: number }).replayFrom;
    durable.snapshot = { index: meta.index, membership: meta.membership, extra: { term: meta.extra.term }, data: snap.data.slice(4 + len) };
  }
  for await (const r of wal.replay(from)) durable.records.push(decodeEntry(r.data));
  if (wal.meta) durable.meta = decodeHardState(wal.meta);
  return { wal, durable };
}

describe('the Raft core on the shared WAL', () => {
  it('a single-node cluster restarts from its WAL with term, vote, commit and log intact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synod-raft-wal-'));
    dirs.push(dir);
    const opts = { id: 'a', initialMembership: { voters: ['a'], learners: [] }, random: seededRandom(1) };
    let wal = (await load(dir)).wal;
    const node = new RaftNode(opts);
    const applied: string[] = [];
    const drive = async (n: RaftNode) => {
      while (n.hasReady()) {
        const rd = n.ready();
        await persist(wal, rd);
        for (const e of rd.committed) if (e.kind === 'command') applied.push(new TextDecoder().decode(e.data));
        n.advance();
      }
    };
    for (let i = 0; i < 30 && node.role !== 'leader'; i++) {
      node.tick();
      await drive(node);
    }
    expect(node.role).toBe('leader');
    for (let i = 0; i < 50; i++) node.propose(new TextEncoder().encode(`v${i}`));
    await drive(node);
    expect(applied).toHaveLength(50);
    // A snapshot at index 30, then more entries: the restart needs both.
    const snap = node.snapshotTaken(30, new TextEncoder().encode('state@30'));
    await saveSnapshot(wal, snap, 1);
    for (let i = 50; i < 60; i++) node.propose(new TextEncoder().encode(`v${i}`));
    await drive(node);
    const before = { term: node.term, vote: node.vote, commit: node.log.committed, last: node.log.lastIndex() };
    await wal.close();

    const reopened = await load(dir);
    wal = reopened.wal;
    const durable = reopened.durable;
    const restarted = new RaftNode({ ...opts, random: seededRandom(2) }, durable);
    expect({ term: restarted.term, vote: restarted.vote, commit: restarted.log.committed, last: restarted.log.lastIndex() }).toEqual(before);
    expect(restarted.log.snapshot?.index).toBe(30);
    expect(restarted.log.applied).toBe(30);
    // Replaying hands out exactly the entries after the snapshot.
    const rd = restarted.ready();
    expect(rd.committed.filter((e) => e.kind === 'command').map((e) => new TextDecoder().decode(e.data))).toEqual(
      Array.from({ length: 60 - 29 }, (_, i) => `v${i + 29}`),
    );
    restarted.advance();
    await wal.close();
  });
});
