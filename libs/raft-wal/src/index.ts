import type { Membership } from '@synod/replog';
import {
  decodeEntry,
  decodeHardState,
  encodeEntry,
  encodeHardState,
  type Entry,
  type HardState,
  type RaftDurableState,
  type RaftReady,
  type RaftSnapshot,
} from '@synod/raft';
import { Wal, type WalWarning } from '@synod/wal';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface RaftWalStorageOptions {
  dir: string;
  segmentBytes?: number;
  onWarning?: (w: WalWarning) => void;
}

/**
 * Raft's durable state in a WAL: one record per log entry, the hard state in the WAL's metadata
 * register, snapshots as snapshot files. A snapshot file is
 *   [u32 header length][header JSON { index, term, membership, replayFrom }][state-machine bytes]
 * where `replayFrom` is the WAL sequence number of the first record a restart must replay.
 *
 * Disk stays bounded: after each snapshot, segments older than what the older of the two kept
 * snapshots needs are deleted (so falling back to it still works).
 */
export class RaftWalStorage {
  /** WAL seq of the record holding each log entry, for entries above `base` (indexes base+1...). */
  private seqs: number[] = [];
  private base = 0;
  /** replayFrom of the snapshots kept on disk, newest last. */
  private kept: number[] = [];
  /** The hard state last written to the metadata register. */
  private lastMeta: HardState | undefined;

  private constructor(readonly wal: Wal) {}

  /** Opens the directory and reads back everything Raft needs to restart. */
  static async open(opts: RaftWalStorageOptions): Promise<{ storage: RaftWalStorage; durable: RaftDurableState | undefined }> {
    const wal = await Wal.open(opts);
    const storage = new RaftWalStorage(wal);
    const durable: RaftDurableState = { records: [] };
    let from = wal.firstSeq;
    const snap = await wal.loadLatestSnapshot();
    if (snap) {
      const s = decodeSnapshotFile(snap.data);
      durable.snapshot = s.snapshot;
      from = s.replayFrom;
      storage.kept = [s.replayFrom];
      storage.base = s.snapshot.index;
    }
    for await (const r of wal.replay(from)) {
      const e = decodeEntry(r.data);
      durable.records.push(e);
      storage.track(e.index, r.seq);
    }
    if (wal.meta) {
      durable.meta = decodeHardState(wal.meta);
      storage.lastMeta = durable.meta;
    }
    const empty = !durable.snapshot && durable.records.length === 0 && !durable.meta;
    return { storage, durable: empty ? undefined : durable };
  }

  /** Step 1 of the Ready contract: snapshot, records, then meta, each durable before the next. */
  async persist(rd: Pick<RaftReady, 'snapshot' | 'records' | 'meta'>): Promise<void> {
    if (rd.snapshot) {
      // A snapshot from the leader replaces the log: nothing written before it is replayed.
      await this.saveSnapshot(rd.snapshot as RaftSnapshot, this.wal.lastSeq + 1);
      this.seqs = [];
      this.base = rd.snapshot.index;
    }
    if (rd.records.length > 0) {
      const { firstSeq } = await this.wal.append(rd.records.map(encodeEntry));
      rd.records.forEach((e, i) => this.track(e.index, firstSeq + i));
    }
    // Term and vote must be durable before any message promising them goes out; a commit index
    // alone need not be (after a restart the leader tells it again), so a change of commit only is
    // written with the next term or vote change instead of costing an fsync per write.
    if (rd.meta) {
      const m = rd.meta as HardState;
      if (!this.lastMeta || m.term !== this.lastMeta.term || m.vote !== this.lastMeta.vote) {
        await this.wal.setMeta(encodeHardState(m));
        this.lastMeta = m;
      }
    }
  }

  /** Persists a snapshot the state machine took (the log after it stays needed). */
  async saveLocalSnapshot(snapshot: RaftSnapshot): Promise<void> {
    const at = snapshot.index - this.base;
    const replayFrom = at >= 0 && at < this.seqs.length ? this.seqs[at]! : this.wal.lastSeq + 1;
    await this.saveSnapshot(snapshot, replayFrom);
    // Entries up to the snapshot are never replayed again: forget where they were.
    if (at > 0) {
      this.seqs = this.seqs.slice(Math.min(at, this.seqs.length));
      this.base = snapshot.index;
    }
  }

  async close(): Promise<void> {
    await this.wal.close();
  }

  private async saveSnapshot(s: RaftSnapshot, replayFrom: number): Promise<void> {
    await this.wal.saveSnapshot(s.index, encodeSnapshotFile(s, replayFrom));
    this.kept.push(replayFrom);
    if (this.kept.length > 2) this.kept.shift();
    // The WAL keeps two snapshots: keep the records the older one needs too.
    if (this.kept.length === 2) await this.wal.releaseBefore(this.kept[0]!);
  }

  private track(index: number, seq: number): void {
    const at = index - this.base - 1;
    if (at < 0) return;
    // A record at `index` supersedes every entry from `index` on.
    this.seqs.length = Math.min(this.seqs.length, at);
    while (this.seqs.length < at) this.seqs.push(seq);
    this.seqs.push(seq);
  }
}

/**
 * Seeds an empty data dir with a snapshot (restoring a backup, as `etcdctl snapshot restore` does):
 * the replica started on it begins at `index` with `membership`, and its log continues from there.
 * Refuses a directory that already holds Raft state.
 */
export async function writeBootstrapSnapshot(dir: string, s: { index: number; term: number; membership: Membership; data: Uint8Array }): Promise<void> {
  const { storage, durable } = await RaftWalStorage.open({ dir });
  try {
    if (durable) throw new Error(`${dir} already holds Raft state; restore into an empty directory`);
    await storage.persist({ snapshot: { index: s.index, membership: s.membership, extra: { term: s.term }, data: s.data }, records: [], meta: { term: s.term, vote: undefined, commit: s.index } });
  } finally {
    await storage.close();
  }
}

function encodeSnapshotFile(s: RaftSnapshot, replayFrom: number): Uint8Array {
  const header = enc.encode(JSON.stringify({ index: s.index, term: s.extra.term, membership: s.membership, replayFrom }));
  const out = new Uint8Array(4 + header.length + s.data.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(s.data, 4 + header.length);
  return out;
}

function decodeSnapshotFile(b: Uint8Array): { snapshot: RaftSnapshot; replayFrom: number } {
  if (b.length < 4) throw new Error('snapshot file too short');
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
  if (4 + len > b.length) throw new Error('snapshot header length beyond the file');
  const h = JSON.parse(dec.decode(b.subarray(4, 4 + len))) as { index: number; term: number; membership: Membership; replayFrom: number };
  if (!Number.isSafeInteger(h.index) || !Number.isSafeInteger(h.term) || !Number.isSafeInteger(h.replayFrom) || !h.membership) {
    throw new Error('snapshot header is invalid');
  }
  return { snapshot: { index: h.index, membership: h.membership, extra: { term: h.term }, data: b.slice(4 + len) }, replayFrom: h.replayFrom };
}

export type { Entry };
