import type { Membership } from '@synod/replog';
import {
  decodeMeta,
  decodeSlot,
  encodeMeta,
  encodeSlot,
  sameBallot,
  type ConfigEpoch,
  type PaxosDurableState,
  type PaxosMeta,
  type PaxosReady,
  type PaxosSnapshot,
} from '@synod/paxos';
import { Wal, type WalWarning } from '@synod/wal';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface PaxosWalStorageOptions {
  dir: string;
  segmentBytes?: number;
  onWarning?: (w: WalWarning) => void;
}

/**
 * An acceptor's durable state in a WAL: one record per accepted value (a later record for a slot
 * supersedes the earlier one), the promise and chosen prefix in the WAL's metadata register,
 * snapshots as snapshot files:
 *   [u32 header length][header JSON { index, membership, configs, replayFrom }][state-machine bytes]
 * where `replayFrom` is the WAL sequence number of the first record a restart must replay: the
 * oldest record still holding a slot after the snapshot.
 *
 * Disk stays bounded: after each snapshot, segments older than what the older of the two kept
 * snapshots needs are deleted.
 */
export class PaxosWalStorage {
  /** WAL seq of the record holding each slot above `base` (slots base+1...). */
  private seqs: number[] = [];
  private base = 0;
  private kept: number[] = [];
  private lastMeta: PaxosMeta | undefined;

  private constructor(readonly wal: Wal) {}

  static async open(opts: PaxosWalStorageOptions): Promise<{ storage: PaxosWalStorage; durable: PaxosDurableState | undefined }> {
    const wal = await Wal.open(opts);
    const storage = new PaxosWalStorage(wal);
    const durable: PaxosDurableState = { records: [] };
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
      const s = decodeSlot(r.data);
      durable.records.push(s);
      storage.track(s.index, r.seq);
    }
    if (wal.meta) {
      durable.meta = decodeMeta(wal.meta);
      storage.lastMeta = durable.meta;
    }
    const empty = !durable.snapshot && durable.records.length === 0 && !durable.meta;
    return { storage, durable: empty ? undefined : durable };
  }

  /** Step 1 of the Ready contract: snapshot, records, then meta, each durable before the next. */
  async persist(rd: Pick<PaxosReady, 'snapshot' | 'records' | 'meta'>): Promise<void> {
    if (rd.snapshot) {
      // A snapshot from the leader supersedes every record before it (the values kept after it
      // come again in this Ready's records).
      await this.saveSnapshot(rd.snapshot as PaxosSnapshot, this.wal.lastSeq + 1);
      this.seqs = [];
      this.base = rd.snapshot.index;
    }
    if (rd.records.length > 0) {
      const { firstSeq } = await this.wal.append(rd.records.map(encodeSlot));
      rd.records.forEach((s, i) => this.track(s.index, firstSeq + i));
    }
    // The promise must be durable before any message relying on it goes out; the chosen prefix
    // alone need not be (a restart re-learns it), so it rides along with the next promise change.
    if (rd.meta) {
      const m = rd.meta as PaxosMeta;
      if (!this.lastMeta || !sameBallot(m.promised, this.lastMeta.promised)) {
        await this.wal.setMeta(encodeMeta(m));
        this.lastMeta = m;
      }
    }
  }

  async saveLocalSnapshot(snapshot: PaxosSnapshot): Promise<void> {
    const at = snapshot.index - this.base;
    let replayFrom = this.wal.lastSeq + 1;
    for (let i = Math.max(0, at); i < this.seqs.length; i++) replayFrom = Math.min(replayFrom, this.seqs[i]!);
    await this.saveSnapshot(snapshot, replayFrom);
    if (at > 0) {
      this.seqs = this.seqs.slice(Math.min(at, this.seqs.length));
      this.base = snapshot.index;
    }
  }

  async close(): Promise<void> {
    await this.wal.close();
  }

  private async saveSnapshot(s: PaxosSnapshot, replayFrom: number): Promise<void> {
    await this.wal.saveSnapshot(s.index, encodeSnapshotFile(s, replayFrom));
    this.kept.push(replayFrom);
    if (this.kept.length > 2) this.kept.shift();
    if (this.kept.length === 2) await this.wal.releaseBefore(this.kept[0]!);
  }

  /** A record for a slot supersedes only that slot (unlike Raft's, which cuts the suffix). */
  private track(index: number, seq: number): void {
    const at = index - this.base - 1;
    if (at < 0) return;
    while (this.seqs.length < at) this.seqs.push(seq);
    this.seqs[at] = seq;
  }
}

/** Seeds an empty data dir with a snapshot (restoring a backup). Refuses a directory with state. */
export async function writeBootstrapSnapshot(dir: string, s: { index: number; membership: Membership; data: Uint8Array }): Promise<void> {
  const { storage, durable } = await PaxosWalStorage.open({ dir });
  try {
    if (durable) throw new Error(`${dir} already holds Paxos state; restore into an empty directory`);
    await storage.persist({ snapshot: { index: s.index, membership: s.membership, extra: { configs: [{ from: 0, membership: s.membership }] }, data: s.data }, records: [] });
  } finally {
    await storage.close();
  }
}

function encodeSnapshotFile(s: PaxosSnapshot, replayFrom: number): Uint8Array {
  const header = enc.encode(JSON.stringify({ index: s.index, membership: s.membership, configs: s.extra.configs, replayFrom }));
  const out = new Uint8Array(4 + header.length + s.data.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(s.data, 4 + header.length);
  return out;
}

function decodeSnapshotFile(b: Uint8Array): { snapshot: PaxosSnapshot; replayFrom: number } {
  if (b.length < 4) throw new Error('snapshot file too short');
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
  if (4 + len > b.length) throw new Error('snapshot header length beyond the file');
  const h = JSON.parse(dec.decode(b.subarray(4, 4 + len))) as { index: number; membership: Membership; configs: ConfigEpoch[]; replayFrom: number };
  if (!Number.isSafeInteger(h.index) || !Number.isSafeInteger(h.replayFrom) || !h.membership || !Array.isArray(h.configs)) throw new Error('snapshot header is invalid');
  return { snapshot: { index: h.index, membership: h.membership, extra: { configs: h.configs }, data: b.slice(4 + len) }, replayFrom: h.replayFrom };
}
