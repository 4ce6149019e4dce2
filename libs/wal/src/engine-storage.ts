// A consensus engine's durable state in a Wal: records, the meta register and snapshots, for any
// engine whose records carry a log index (Raft's entries, Paxos's accepted slots). What differs
// between engines is the engine's WalFormat (libs/replog), which each engine module exports.
import { fromUtf8 as dec, snapshotBytes, utf8 as enc, type Membership, type Ready, type Snapshot, type SnapshotBytes, type WalFormat } from '@synod/replog';
import { WalCorruptionError } from './errors.js';
import { SnapshotFile, type SnapshotWriter } from './snapshot-file.js';
import { Wal, type WalOptions } from './wal.js';

/** What a restart reads back. */
export interface EngineDurableState<Rec, Meta, Extra> {
  snapshot?: Snapshot<Extra>;
  records: Rec[];
  meta?: Meta;
}

/** A snapshot being written in pieces by the state machine; see `EngineWalStorage.beginLocalSnapshot`. */
export interface LocalSnapshotWriter<Extra> {
  readonly index: number;
  write(chunk: Uint8Array): Promise<void>;
  /** The bytes written so far, read from the file on demand (hand it to the engine's snapshotTaken). */
  data(): SnapshotFile;
  /**
   * Makes it durable with the engine's metadata and releases what the older kept snapshot no longer
   * needs. The reader `data()` gave is the snapshot's from then on (the engine may stream it).
   */
  commit(snapshot: Snapshot<Extra>): Promise<void>;
  /** Drops the snapshot, and closes the reader `data()` gave unless `commit` was called. */
  abort(): Promise<void>;
}

interface SnapshotMeta {
  index: number;
  membership: Membership;
  extra: unknown;
  replayFrom: number;
}

/**
 * An engine's durable state in a WAL: one record per engine record, the engine's meta in the WAL's
 * metadata register, snapshots as WAL snapshot files whose meta blob is
 * `{ index, membership, extra, replayFrom }` (JSON), `replayFrom` being the WAL sequence number of
 * the first record a restart must replay. Snapshot payloads are never held in memory here: a loaded
 * or locally taken snapshot is a SnapshotFile read on demand.
 *
 * Disk stays bounded: after each snapshot, segments older than what the older of the two kept
 * snapshots needs are deleted (so falling back to it still works).
 */
export class EngineWalStorage<Rec extends { index: number }, Meta, Extra> {
  /** WAL seq of the record holding each index above `base` (indexes base+1...). */
  private seqs: number[] = [];
  private base = 0;
  /** replayFrom of the snapshots kept on disk, newest last. */
  private kept: number[] = [];
  /** The meta last written to the register. */
  private lastMeta: Meta | undefined;
  /** The file of the newest snapshot on disk, while the engine may still read it. */
  private current: SnapshotFile | undefined;

  private constructor(
    readonly wal: Wal,
    private readonly format: WalFormat<Rec, Meta, Extra>,
  ) {}

  /** Opens the directory and reads back everything the engine of `format` needs to restart. */
  static async open<Rec extends { index: number }, Meta, Extra>(
    opts: WalOptions,
    format: WalFormat<Rec, Meta, Extra>,
  ): Promise<{ storage: EngineWalStorage<Rec, Meta, Extra>; durable: EngineDurableState<Rec, Meta, Extra> | undefined }> {
    const wal = await Wal.open(opts);
    const storage = new EngineWalStorage(wal, format);
    try {
      const durable = await storage.load();
      return { storage, durable };
    } catch (err) {
      await wal.close().catch(() => {});
      throw err;
    }
  }

  private async load(): Promise<EngineDurableState<Rec, Meta, Extra> | undefined> {
    const f = this.format;
    const durable: EngineDurableState<Rec, Meta, Extra> = { records: [] };
    let from = this.wal.firstSeq;
    const snap = await this.wal.loadLatestSnapshot();
    if (snap) {
      let m: SnapshotMeta;
      try {
        m = parseSnapshotMeta(snap.meta);
        durable.snapshot = { index: m.index, membership: m.membership, extra: f.parseExtra(m.extra), data: snap.data };
      } catch (err) {
        snap.data.close();
        throw new Error(`${f.engine} snapshot ${snap.id} in ${this.wal.dir} has a bad header: ${(err as Error).message}`, { cause: err });
      }
      this.current = snap.data;
      from = m.replayFrom;
      this.kept = [m.replayFrom];
      this.base = m.index;
    }
    for await (const r of this.wal.replay(from)) {
      let rec: Rec;
      try {
        rec = f.decodeRecord(r.data);
      } catch (err) {
        // Its CRC holds, so the bytes are as written: refused as corrupt all the same, pointing at it.
        throw new WalCorruptionError(r.file, r.offset, `${f.engine} record ${r.seq} does not decode: ${(err as Error).message}`, { cause: err });
      }
      durable.records.push(rec);
      this.track(rec.index, r.seq);
    }
    const meta = this.wal.meta;
    if (meta) {
      durable.meta = f.decodeMeta(meta);
      this.lastMeta = durable.meta;
    }
    const empty = !durable.snapshot && durable.records.length === 0 && !durable.meta;
    return empty ? undefined : durable;
  }

  /**
   * Step 1 of the Ready contract: snapshot, records, then meta, each durable before the next.
   * Returns undefined, synchronously, when there is nothing to write (a commit index alone).
   */
  persist(rd: Pick<Ready<unknown, Rec, Meta>, 'snapshot' | 'records' | 'meta'>): Promise<void> | undefined {
    if (!rd.snapshot && rd.records.length === 0 && (rd.meta === undefined || !this.format.metaMustPersist(rd.meta, this.lastMeta))) return undefined;
    return this.write(rd);
  }

  private async write(rd: Pick<Ready<unknown, Rec, Meta>, 'snapshot' | 'records' | 'meta'>): Promise<void> {
    if (rd.snapshot) {
      // A snapshot from the leader supersedes every record before it (whatever the engine keeps
      // after it comes again in this Ready's records).
      const s = rd.snapshot as Snapshot<Extra>;
      const w = await this.wal.beginSnapshot(s.index);
      await writeAll(w, s.data);
      await this.finish(w, s, this.wal.lastSeq + 1);
      this.seqs = [];
      this.base = s.index;
    }
    if (rd.records.length > 0) {
      const { firstSeq } = await this.wal.append(rd.records.map((r) => this.format.encodeRecord(r)));
      rd.records.forEach((r, i) => this.track(r.index, firstSeq + i));
    }
    if (rd.meta !== undefined && this.format.metaMustPersist(rd.meta, this.lastMeta)) {
      await this.wal.setMeta(this.format.encodeMeta(rd.meta));
      this.lastMeta = rd.meta;
    }
  }

  /** Persists a snapshot the state machine took, held in memory (the log after it stays needed). */
  async saveLocalSnapshot(snapshot: Snapshot<Extra>): Promise<void> {
    const w = await this.beginLocalSnapshot(snapshot.index);
    await w.write(snapshotBytes(snapshot.data));
    await w.commit(snapshot);
  }

  /**
   * Starts a snapshot the state machine takes at `index`, written in pieces while the replica goes
   * on: `write` the state machine's bytes, hand `data()` to the engine's snapshotTaken, then
   * `commit` the Snapshot it returned. Records after `index` stay needed; those before it are
   * released once an older kept snapshot no longer needs them.
   */
  async beginLocalSnapshot(index: number): Promise<LocalSnapshotWriter<Extra>> {
    const w = await this.wal.beginSnapshot(index);
    let reader: SnapshotFile | undefined;
    let committing = false;
    return {
      index,
      write: (chunk) => w.write(chunk),
      data: () => (reader = w.payload()),
      abort: async () => {
        if (!committing) reader?.close();
        await w.abort();
      },
      commit: async (snapshot) => {
        committing = true;
        if (snapshot.index !== index) throw new Error(`snapshot at ${snapshot.index} committed to a writer begun at ${index}`);
        // Computed now, not at begin: records written meanwhile are tracked by now.
        const at = snapshot.index - this.base;
        let replayFrom = this.wal.lastSeq + 1;
        for (let i = Math.max(0, at); i < this.seqs.length; i++) replayFrom = Math.min(replayFrom, this.seqs[i]!);
        // Indexes up to the snapshot are never replayed again: forget where they were.
        if (at > 0) {
          this.seqs = this.seqs.slice(Math.min(at, this.seqs.length));
          this.base = snapshot.index;
        }
        await this.finish(w, snapshot, replayFrom);
      },
    };
  }

  async close(): Promise<void> {
    this.current?.close();
    this.current = undefined;
    await this.wal.close();
  }

  private async finish(w: SnapshotWriter, s: Snapshot<Extra>, replayFrom: number): Promise<void> {
    const meta: SnapshotMeta = { index: s.index, membership: s.membership, extra: s.extra, replayFrom };
    await w.commit(enc.encode(JSON.stringify(meta)));
    // The engine replaced its snapshot before this one was committed: the older file is unused.
    if (this.current && this.current !== s.data) this.current.close();
    this.current = s.data instanceof SnapshotFile ? s.data : undefined;
    this.kept.push(replayFrom);
    if (this.kept.length > 2) this.kept.shift();
    // The WAL keeps two snapshots: keep the records the older one needs too.
    // (Background snapshots may commit out of index order: the smaller replayFrom is the one to keep.)
    if (this.kept.length === 2) await this.wal.releaseBefore(Math.min(this.kept[0]!, this.kept[1]!));
  }

  private track(index: number, seq: number): void {
    const at = index - this.base - 1;
    if (at < 0) return;
    if (this.format.supersedes === 'suffix') this.seqs.length = Math.min(this.seqs.length, at);
    while (this.seqs.length < at) this.seqs.push(seq);
    this.seqs[at] = seq;
  }
}

/** Writes `data` in pieces of at most 1 MiB (a file-backed one is never read whole). */
async function writeAll(w: SnapshotWriter, data: SnapshotBytes): Promise<void> {
  const piece = 1 << 20;
  for (let at = 0; at < data.length; at += piece) await w.write(data.subarray(at, Math.min(data.length, at + piece)));
}

function parseSnapshotMeta(b: Uint8Array): SnapshotMeta {
  const m = JSON.parse(dec.decode(b)) as Partial<SnapshotMeta> | null;
  if (
    !m ||
    !Number.isSafeInteger(m.index) ||
    !Number.isSafeInteger(m.replayFrom) ||
    !m.membership ||
    !Array.isArray(m.membership.voters) ||
    !Array.isArray(m.membership.learners)
  ) {
    throw new Error('index, membership or replayFrom missing or invalid');
  }
  return m as SnapshotMeta;
}

/**
 * Seeds the empty data directory `opts.dir` with `state` (an engine module's `bootstrap`: a
 * snapshot and what goes with it), as an offline restore does. Refuses a directory that already
 * holds state of any engine's WAL.
 */
export async function seedEngineWal<Rec extends { index: number }, Meta, Extra>(
  opts: WalOptions,
  format: WalFormat<Rec, Meta, Extra>,
  state: { snapshot: Snapshot<Extra>; records: Rec[]; meta?: Meta },
): Promise<void> {
  const { storage, durable } = await EngineWalStorage.open(opts, format);
  try {
    if (durable) throw new Error(`${opts.dir} already holds ${format.engine} state; restore into an empty directory`);
    await storage.persist(state);
  } finally {
    await storage.close();
  }
}
