import { constants, type FileHandle, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WalCorruptionError, WalError } from './errors.js';
import {
  META_SLOTS,
  decodeMeta,
  decodeSnapshotHeader,
  SNAPSHOT_HEADER_BYTES,
  snapshotHeaderCrc,
  encodeMeta,
  encodeRecords,
  isSnapshotTemp,
  parseSegmentName,
  parseSnapshotName,
  RECORD_HEADER_BYTES,
  scanRecords,
  segmentName,
  snapshotName,
  validRecordAfter,
} from './format.js';
import { readAll, readFilePrefix, readPrefix, syncDir, writeAllAt, writeAllAtSync } from './fs.js';
import { crc32c } from './crc32c.js';
import { SnapshotFile, SnapshotWriter } from './snapshot-file.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/**
 * Batches up to this size are written with a synchronous writev: it only copies into the page
 * cache (tens of µs), and skipping the thread pool saves a hop (≈70 µs here) before the fdatasync.
 */
const INLINE_WRITE_BYTES = 256 * 1024;

export interface WalOptions {
  /** Directory of the log; created (with its parents) if missing. One process, one open Wal. */
  dir: string;
  /** A new segment starts when the next batch would push the active one past this. Default 64 MiB. */
  segmentBytes?: number;
  /** Told about every repair or fallback that recovery made on its own (no console output here). */
  onWarning?: (warning: WalWarning) => void;
}

export interface WalWarning {
  kind: 'torn-tail' | 'meta-slot-invalid' | 'snapshot-corrupt' | 'snapshot-temp-removed';
  file: string;
  /** For 'torn-tail': where the file was cut. */
  offset?: number;
  message: string;
}

export interface WalRecord {
  seq: number;
  /** A view into a buffer shared with the other records of its segment: copy it to keep it long. */
  data: Uint8Array;
  /** The segment file holding it (absolute path) and the byte offset of its header there, for errors that must point at it. */
  file: string;
  offset: number;
}

export interface AppendResult {
  firstSeq: number;
  lastSeq: number;
}

export interface WalStats {
  /** append() calls made durable. */
  appends: number;
  /** Records made durable. */
  records: number;
  /** Bytes written to segments, frames included. */
  bytes: number;
  /** fdatasync calls on segments: one per group-commit batch. */
  syncs: number;
}

export interface Snapshot {
  id: number;
  /** The payload, read from its file on demand. */
  data: SnapshotFile;
  /** The blob saved beside it (empty if none). */
  meta: Uint8Array;
}

interface Segment {
  firstSeq: number;
  file: string;
  /** Bytes and records known durable (synced, or found valid at open). */
  size: number;
  count: number;
}

interface PendingAppend {
  frames: Buffer;
  firstSeq: number;
  count: number;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface MetaJob {
  data: Buffer;
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

/** Directories open in this process: a second Wal on the same files would interleave writes. */
const openDirs = new Set<string>();

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A durable, segmented, append-only log of opaque records, plus a small metadata register and
 * snapshot files, all in one directory. See README.md for the formats and the durability contract.
 */
export class Wal {
  private readonly stat: WalStats = { appends: 0, records: 0, bytes: 0, syncs: 0 };
  private nextSeq: number;
  private queue: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  private metaNext: MetaJob | undefined;
  private metaWriting: Promise<void> | undefined;
  /** Snapshot and release work, one at a time (they list and delete files). */
  private maintenance: Promise<unknown> = Promise.resolve();
  /** Set by the first failed log or metadata write/sync; the Wal refuses writes from then on. */
  private failure: WalError | undefined;
  private closing: Promise<void> | undefined;
  /** Suffixes of temporary files of snapshots being written. */
  private snapshotTemps = 0;

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
    private readonly warn: (w: WalWarning) => void,
    private readonly segments: Segment[],
    private active: FileHandle,
    private readonly metaHandles: readonly [FileHandle, FileHandle],
    private readonly metaSizes: [number, number],
    private metaVersion: number,
    private metaValue: Buffer | undefined,
  ) {
    const last = segments[segments.length - 1]!;
    this.nextSeq = last.firstSeq + last.count;
  }

  /**
   * Opens (or creates) the log in `options.dir` and recovers it: drops a torn tail of the last
   * segment, refuses (WalCorruptionError) any other damage or a gap between segments, picks the
   * newest valid metadata slot and removes leftover temporary snapshot files. Read the records with
   * `replay()`.
   */
  static async open(options: WalOptions): Promise<Wal> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
      throw new WalError('WAL_BAD_ARGUMENT', `segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    const dir = resolve(options.dir);
    if (openDirs.has(dir)) throw new WalError('WAL_ALREADY_OPEN', `WAL ${dir} is already open in this process`);
    openDirs.add(dir);
    const warn = options.onWarning ?? (() => {});
    const handles: FileHandle[] = []; // closed again if recovery fails
    try {
      await makeDirDurably(dir);
      const names = await readdir(dir);
      await removeSnapshotTemps(dir, names, warn);
      const meta = await recoverMeta(dir, names, warn, handles);
      const segments = await recoverSegments(dir, names, warn);
      const active = await openActiveSegment(dir, segments, handles);
      return new Wal(dir, segmentBytes, warn, segments, active, meta.handles, meta.sizes, meta.version, meta.value);
    } catch (err) {
      await Promise.all(handles.map((h) => h.close().catch(() => {})));
      openDirs.delete(dir);
      throw err;
    }
  }

  /** Sequence number of the oldest record still on disk (= nextSeq when the log is empty). */
  get firstSeq(): number {
    return this.segments[0]!.firstSeq;
  }

  /** Sequence number of the newest durable record; firstSeq - 1 when the log is empty. */
  get lastSeq(): number {
    const last = this.segments[this.segments.length - 1]!;
    return last.firstSeq + last.count - 1;
  }

  /** The latest durable metadata (a copy), or undefined if none was ever set. */
  get meta(): Uint8Array | undefined {
    return this.metaValue === undefined ? undefined : Uint8Array.from(this.metaValue);
  }

  get stats(): WalStats {
    return { ...this.stat };
  }

  /**
   * Appends `records` (copied at once: the caller may reuse its buffers) and resolves once they
   * are written and fdatasync'ed. Appends made while a write is in flight are written together by
   * the next one (group commit). Sequence numbers follow call order, and so does the file.
   */
  append(records: readonly Uint8Array[]): Promise<AppendResult> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    if (!Array.isArray(records) || records.length === 0 || !records.every((r) => r instanceof Uint8Array)) {
      return Promise.reject(new WalError('WAL_BAD_ARGUMENT', 'append needs a non-empty array of Uint8Array records'));
    }
    const frames = encodeRecords(records);
    const firstSeq = this.nextSeq;
    this.nextSeq += records.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ frames, firstSeq, count: records.length, resolve, reject });
      // Start on a later microtask, so every append made in this synchronous run joins the batch.
      this.flushing ??= Promise.resolve().then(() => this.flushLoop());
    });
  }

  /**
   * Makes `data` the metadata and resolves once it is durable. Calls made while a write is in
   * flight are coalesced: only the newest value is written next, and all of them resolve with it.
   */
  setMeta(data: Uint8Array): Promise<void> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    if (!(data instanceof Uint8Array)) return Promise.reject(new WalError('WAL_BAD_ARGUMENT', 'setMeta needs a Uint8Array'));
    const copy = Buffer.from(data);
    return new Promise((resolve, reject) => {
      this.metaNext ??= { data: copy, waiters: [] };
      this.metaNext.data = copy;
      this.metaNext.waiters.push({ resolve, reject });
      this.metaWriting ??= Promise.resolve().then(() => this.metaLoop());
    });
  }

  /**
   * Reads back the durable records with seq >= fromSeq, in order, from disk. Segments are read
   * whole, one at a time. Do not call releaseBefore() on records a replay still has to read.
   */
  async *replay(fromSeq = 1): AsyncGenerator<WalRecord> {
    const refusal = this.refusal();
    if (refusal?.code === 'WAL_CLOSED') throw refusal;
    if (!Number.isSafeInteger(fromSeq)) throw new WalError('WAL_BAD_ARGUMENT', `fromSeq must be a safe integer, got ${fromSeq}`);
    // Only what was durable when the replay started: the active segment may be mid-write.
    const segments = this.segments.map((s) => ({ ...s }));
    for (const s of segments) {
      if (s.count === 0 || s.firstSeq + s.count <= fromSeq) continue;
      const buf = await readFilePrefix(s.file, s.size);
      const out: WalRecord[] = [];
      let seq = s.firstSeq;
      const scan = scanRecords(buf, (data) => {
        if (seq >= fromSeq) out.push({ seq, data, file: s.file, offset: data.byteOffset - buf.byteOffset - RECORD_HEADER_BYTES });
        seq++;
      });
      // It was whole at open (or when synced): damage now is new damage.
      if (scan.problem !== undefined || scan.count !== s.count) {
        throw new WalCorruptionError(s.file, scan.end, `${scan.problem ?? 'record count changed'} (the segment changed since it was verified)`);
      }
      yield* out;
    }
  }

  /**
   * Deletes the segments all of whose records have seq < `seq` (never the active segment), oldest
   * first, syncing the directory after each, so a crash part way leaves no gap. Resolves to how
   * many segments were deleted.
   */
  releaseBefore(seq: number): Promise<number> {
    const refusal = this.refusal();
    if (refusal?.code === 'WAL_CLOSED') return Promise.reject(refusal);
    return this.serially(async () => {
      let n = 0;
      while (n < this.segments.length - 1 && this.segments[n + 1]!.firstSeq <= seq) n++;
      for (const s of this.segments.slice(0, n)) {
        await unlink(s.file);
        await syncDir(this.dir);
        this.segments.shift();
      }
      return n;
    });
  }

  /**
   * Stores a snapshot durably: written to a temporary file, fsynced, renamed into place, directory
   * fsynced. Then all but the newest two snapshots (by id) are deleted. `data` is not copied: leave
   * it unchanged until this resolves. `meta` is a small blob kept beside it (the caller's header).
   */
  async saveSnapshot(id: number, data: Uint8Array, meta?: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new WalError('WAL_BAD_ARGUMENT', 'saveSnapshot needs a Uint8Array');
    const w = await this.beginSnapshot(id);
    try {
      await w.write(data);
    } catch (err) {
      await w.abort().catch(() => {});
      throw new WalError('WAL_IO', `saving snapshot ${id} in ${this.dir} failed: ${message(err)}`, { cause: err });
    }
    await w.commit(meta);
  }

  /**
   * Starts a snapshot written in pieces (a large state machine streams itself without building the
   * whole image in memory): `write` payload chunks, then `commit(meta)` makes it durable and puts it
   * in place exactly as `saveSnapshot` does, or `abort()`. Several may be open at once; commits run
   * one at a time.
   */
  async beginSnapshot(id: number): Promise<SnapshotWriter> {
    const refusal = this.refusal();
    if (refusal?.code === 'WAL_CLOSED') throw refusal;
    if (!Number.isSafeInteger(id) || id < 0) throw new WalError('WAL_BAD_ARGUMENT', `snapshot id must be a non-negative safe integer, got ${id}`);
    const temp = join(this.dir, `${snapshotName(id)}.${++this.snapshotTemps}.tmp`);
    try {
      return await SnapshotWriter.create(id, temp, (w, meta) => this.commitSnapshot(w, meta));
    } catch (err) {
      throw new WalError('WAL_IO', `starting snapshot ${id} in ${this.dir} failed: ${message(err)}`, { cause: err });
    }
  }

  private commitSnapshot(w: SnapshotWriter, meta: Uint8Array): Promise<void> {
    if (!(meta instanceof Uint8Array)) return Promise.reject(new WalError('WAL_BAD_ARGUMENT', 'snapshot meta must be a Uint8Array'));
    return this.serially(async () => {
      const file = join(this.dir, snapshotName(w.id));
      try {
        await w.seal(meta);
        await rename(w.temp, file);
        await syncDir(this.dir);
      } catch (err) {
        await rm(w.temp, { force: true }).catch(() => {});
        throw new WalError('WAL_IO', `saving snapshot ${w.id} in ${this.dir} failed: ${message(err)}`, { cause: err });
      }
      try {
        const ids = await this.snapshotIds();
        for (const old of ids.slice(2)) await rm(join(this.dir, snapshotName(old)), { force: true });
        if (ids.length > 2) await syncDir(this.dir);
      } catch (err) {
        throw new WalError('WAL_IO', `snapshot ${w.id} is saved, but removing older snapshots in ${this.dir} failed: ${message(err)}`, { cause: err });
      }
    });
  }

  /**
   * The newest snapshot whose CRC holds, or undefined if there is none: its meta in memory, its
   * payload as a SnapshotFile (read on demand; close it when done). The file is checked in pieces,
   * never loaded whole. A damaged newer one is renamed to `<name>.corrupt` (so it no longer counts
   * among the two kept) and reported through onWarning, and the previous one is returned; if no
   * snapshot is valid, throws WalCorruptionError for the newest (and renames nothing, so every later
   * call fails too).
   */
  loadLatestSnapshot(): Promise<Snapshot | undefined> {
    const refusal = this.refusal();
    if (refusal?.code === 'WAL_CLOSED') return Promise.reject(refusal);
    return this.serially(async () => {
      const damaged: WalCorruptionError[] = [];
      for (const id of await this.snapshotIds()) {
        const file = join(this.dir, snapshotName(id));
        let checked: Awaited<ReturnType<typeof checkSnapshotFile>>;
        try {
          checked = await checkSnapshotFile(file, id);
        } catch (err) {
          throw new WalError('WAL_IO', `reading snapshot ${file} failed: ${message(err)}`, { cause: err });
        }
        if ('problem' in checked) {
          damaged.push(new WalCorruptionError(file, 0, checked.problem));
          continue;
        }
        for (const d of damaged) {
          await rename(d.file, `${d.file}.corrupt`);
          this.warn({ kind: 'snapshot-corrupt', file: d.file, message: `${d.message}; renamed to .corrupt, using snapshot ${id}` });
        }
        if (damaged.length > 0) await syncDir(this.dir);
        return { id, meta: checked.meta, data: SnapshotFile.open(file, checked.payloadLength) };
      }
      if (damaged[0]) throw damaged[0];
      return undefined;
    });
  }

  /**
   * Writes what is pending, then closes the files. Appends and other calls made after close()
   * reject with WAL_CLOSED; those made before it still complete.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.flushing;
      await this.metaWriting;
      await this.maintenance;
      try {
        await Promise.all([this.active, ...this.metaHandles].map((h) => h.close()));
      } finally {
        openDirs.delete(this.dir); // even after an I/O failure, so that the log can be opened again
      }
    })();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  private refusal(): WalError | undefined {
    if (this.closing) return new WalError('WAL_CLOSED', `WAL ${this.dir} is closed`);
    return this.failure;
  }

  private fail(err: unknown, what: string): WalError {
    this.failure ??= new WalError('WAL_FAILED', `WAL ${this.dir}: ${what} failed, close and open it again: ${message(err)}`, { cause: err });
    return this.failure;
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(fn);
    this.maintenance = run.catch(() => undefined);
    return run;
  }

  private async snapshotIds(): Promise<number[]> {
    const ids = (await readdir(this.dir)).map(parseSnapshotName).filter((id): id is number => id !== undefined);
    return ids.sort((a, b) => b - a);
  }

  /** Writes queued appends in batches until the queue is empty. Never throws. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      if (this.failure) {
        for (const p of this.queue.splice(0)) p.reject(this.failure);
        break;
      }
      const batch = this.takeBatch();
      try {
        await this.writeBatch(batch);
      } catch (err) {
        const failure = this.fail(err, 'append');
        for (const p of batch) p.reject(failure);
        continue;
      }
      for (const p of batch) p.resolve({ firstSeq: p.firstSeq, lastSeq: p.firstSeq + p.count - 1 });
    }
    this.flushing = undefined;
  }

  /** The oldest queued appends, as many as fit in one segment (at least one). */
  private takeBatch(): PendingAppend[] {
    let n = 0;
    let bytes = 0;
    for (const p of this.queue) {
      if (n > 0 && bytes + p.frames.length > this.segmentBytes) break;
      bytes += p.frames.length;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    let seg = this.segments[this.segments.length - 1]!;
    const bytes = batch.reduce((sum, p) => sum + p.frames.length, 0);
    if (seg.size > 0 && seg.size + bytes > this.segmentBytes) seg = await this.rotate(seg);
    // One writev and one fdatasync for the whole batch: this is the group commit. fdatasync (not
    // fsync) is enough: it also flushes the file size, the only metadata needed to read the data.
    const frames = batch.map((p) => p.frames);
    if (bytes <= INLINE_WRITE_BYTES) writeAllAtSync(this.active.fd, frames, seg.size);
    else await writeAllAt(this.active, frames, seg.size);
    await this.active.datasync();
    seg.size += bytes;
    seg.count += batch.reduce((sum, p) => sum + p.count, 0);
    this.stat.appends += batch.length;
    this.stat.records += batch.reduce((sum, p) => sum + p.count, 0);
    this.stat.bytes += bytes;
    this.stat.syncs++;
  }

  /** Starts a new segment after `full`, which is durable already (every batch is synced). */
  private async rotate(full: Segment): Promise<Segment> {
    const firstSeq = full.firstSeq + full.count;
    const file = join(this.dir, segmentName(firstSeq));
    const h = await open(file, 'wx');
    try {
      await syncDir(this.dir); // the new name must survive a crash before records in it are acknowledged
    } catch (err) {
      await h.close();
      throw err;
    }
    const old = this.active;
    this.active = h;
    const seg = { firstSeq, file, size: 0, count: 0 };
    this.segments.push(seg);
    await old.close();
    return seg;
  }

  private async metaLoop(): Promise<void> {
    while (this.metaNext) {
      const job = this.metaNext;
      this.metaNext = undefined;
      try {
        if (this.failure) throw this.failure;
        await this.writeMeta(job.data);
      } catch (err) {
        const failure = err === this.failure ? this.failure : this.fail(err, 'setMeta');
        for (const w of job.waiters) w.reject(failure);
        continue;
      }
      for (const w of job.waiters) w.resolve();
    }
    this.metaWriting = undefined;
  }

  /** Writes the slot that does not hold the current value, so a torn write leaves that one intact. */
  private async writeMeta(data: Buffer): Promise<void> {
    const version = this.metaVersion + 1;
    const slot = (version - 1) % 2;
    const h = this.metaHandles[slot]!;
    const buf = encodeMeta(version, data);
    await writeAllAt(h, [buf], 0);
    if (this.metaSizes[slot]! > buf.length) await h.truncate(buf.length);
    await h.datasync();
    this.metaSizes[slot] = buf.length;
    this.metaVersion = version;
    this.metaValue = data;
  }
}

/** A temporary snapshot is one whose save never finished (it was never renamed into place). */
async function removeSnapshotTemps(dir: string, names: string[], warn: (w: WalWarning) => void): Promise<void> {
  const temps = names.filter(isSnapshotTemp);
  for (const name of temps) {
    await rm(join(dir, name), { force: true });
    warn({ kind: 'snapshot-temp-removed', file: join(dir, name), message: `removed unfinished snapshot ${name}` });
  }
  if (temps.length > 0) await syncDir(dir);
}

/** Opens both metadata slots (creating them, so setMeta never creates files) and picks the newest valid one. */
async function recoverMeta(dir: string, names: string[], warn: (w: WalWarning) => void, handles: FileHandle[]) {
  const metaHandles = [] as unknown as [FileHandle, FileHandle];
  for (const name of META_SLOTS) {
    // O_CREAT without O_TRUNC: create when missing, keep the content otherwise.
    const h = await open(join(dir, name), constants.O_RDWR | constants.O_CREAT, 0o644);
    handles.push(h);
    metaHandles.push(h);
  }
  if (!META_SLOTS.every((n) => names.includes(n))) await syncDir(dir);
  const slots = await Promise.all(metaHandles.map((h) => readAll(h)));
  const decoded = slots.map((b) => decodeMeta(b));
  slots.forEach((b, i) => {
    if (b.length > 0 && decoded[i] === undefined) {
      warn({ kind: 'meta-slot-invalid', file: join(dir, META_SLOTS[i]!), message: `metadata slot ${META_SLOTS[i]} is torn or damaged; using the other slot` });
    }
  });
  if (slots.every((b, i) => b.length > 0 && decoded[i] === undefined)) {
    // One torn slot is the crash case; both bad means a value that was durable is lost.
    throw new WalCorruptionError(join(dir, META_SLOTS[0]), 0, 'both metadata slots are damaged');
  }
  const best = decoded.reduce((a, b) => ((b?.version ?? 0) > (a?.version ?? 0) ? b : a), undefined);
  return { handles: metaHandles, sizes: [slots[0]!.length, slots[1]!.length] as [number, number], version: best?.version ?? 0, value: best?.payload };
}

/**
 * Reads every segment in order, checking each record's CRC and that each segment starts where the
 * previous one ended. Truncates a torn tail of the last segment; any other damage throws.
 */
async function recoverSegments(dir: string, names: string[], warn: (w: WalWarning) => void): Promise<Segment[]> {
  const found = names
    .map((name) => ({ name, firstSeq: parseSegmentName(name) }))
    .filter((s): s is { name: string; firstSeq: number } => s.firstSeq !== undefined)
    .sort((a, b) => a.firstSeq - b.firstSeq);
  const segments: Segment[] = [];
  for (const [i, { name, firstSeq }] of found.entries()) {
    const file = join(dir, name);
    const prev = segments[segments.length - 1];
    const expected = prev ? prev.firstSeq + prev.count : undefined;
    if (firstSeq < 1 || (expected !== undefined && firstSeq !== expected)) {
      throw new WalCorruptionError(file, 0, `gap in sequence numbers: expected a segment starting at ${expected ?? 1}, found one starting at ${firstSeq}`);
    }
    const buf = await readFile(file);
    const scan = scanRecords(buf);
    if (scan.problem !== undefined) {
      if (i < found.length - 1) throw new WalCorruptionError(file, scan.end, `${scan.problem} in a segment that is not the last`);
      // Only the last write can be torn by a crash, and it was never acknowledged. Damage with a
      // valid record after it is not a torn write: acknowledged data would be lost.
      const next = validRecordAfter(buf, scan.end);
      if (next !== undefined) throw new WalCorruptionError(file, scan.end, `${scan.problem}, and a valid record follows at byte offset ${next}`);
      const h = await open(file, 'r+');
      try {
        await h.truncate(scan.end);
        await h.datasync(); // the new length must be durable before anything is appended after it
      } finally {
        await h.close();
      }
      warn({ kind: 'torn-tail', file, offset: scan.end, message: `${scan.problem} at byte offset ${scan.end} of ${file}: truncated ${buf.length - scan.end} bytes of an unfinished write` });
    }
    segments.push({ firstSeq, file, size: scan.end, count: scan.count });
  }
  return segments;
}

/** The last segment, opened for appending; a first empty one (seq 1) in a new log. */
async function openActiveSegment(dir: string, segments: Segment[], handles: FileHandle[]): Promise<FileHandle> {
  const last = segments[segments.length - 1];
  if (last !== undefined) {
    const h = await open(last.file, 'r+');
    handles.push(h);
    return h;
  }
  const file = join(dir, segmentName(1));
  const h = await open(file, 'wx');
  handles.push(h);
  await syncDir(dir); // the new name must be durable before records in it are acknowledged
  segments.push({ firstSeq: 1, file, size: 0, count: 0 });
  return h;
}

/** mkdir -p, then fsync the parent of every directory it created, so the new names are durable. */
async function makeDirDurably(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true });
  if (created === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await syncDir(dirname(d));
    if (d === created || d === dirname(d)) break;
  }
}

/** Checks a snapshot file's header, size and CRC, reading it in 1 MiB pieces. */
async function checkSnapshotFile(file: string, id: number): Promise<{ payloadLength: number; meta: Buffer } | { problem: string }> {
  const h = await open(file, 'r');
  try {
    const size = (await h.stat()).size;
    if (size < SNAPSHOT_HEADER_BYTES) return { problem: `file too short for a snapshot header (${size} bytes)` };
    const header = await readPrefix(h, SNAPSHOT_HEADER_BYTES);
    const d = decodeSnapshotHeader(header, id, size);
    if ('problem' in d) return d;
    const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, d.payloadLength)));
    let crc = 0;
    for (let at = 0; at < d.payloadLength; ) {
      const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, d.payloadLength - at), SNAPSHOT_HEADER_BYTES + at);
      if (bytesRead === 0) return { problem: 'file ended inside the payload' };
      crc = crc32c(buf.subarray(0, bytesRead), crc);
      at += bytesRead;
    }
    const meta = Buffer.alloc(d.metaLength);
    if (d.metaLength > 0) {
      const { bytesRead } = await h.read(meta, 0, d.metaLength, SNAPSHOT_HEADER_BYTES + d.payloadLength);
      if (bytesRead !== d.metaLength) return { problem: 'file ended inside the meta' };
    }
    if (snapshotHeaderCrc(header, crc32c(meta, crc)) !== d.crc) return { problem: 'snapshot CRC mismatch' };
    return { payloadLength: d.payloadLength, meta };
  } finally {
    await h.close();
  }
}
