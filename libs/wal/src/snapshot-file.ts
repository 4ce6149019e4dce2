// Snapshot payloads on disk: read on demand instead of held in memory, and written in pieces.
import { closeSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { crc32c } from './crc32c.js';
import { SNAPSHOT_HEADER_BYTES, encodeSnapshotHeader } from './format.js';
import { writeAllAt } from './fs.js';

/**
 * A snapshot's payload in its file, read when asked: `subarray` reads those bytes (synchronously,
 * from the page cache as a rule), so a payload of any size costs one file descriptor, not its size in
 * memory. Shaped like the part of Uint8Array that readers of snapshot bytes use. The descriptor stays
 * valid when the file is renamed or deleted; `close()` when the snapshot is no longer needed.
 */
export class SnapshotFile {
  private fd: number | undefined;

  private constructor(
    fd: number,
    private readonly offset: number,
    readonly length: number,
  ) {
    this.fd = fd;
  }

  /** The payload of the snapshot file `file`, `length` bytes after the header. */
  static open(file: string, length: number): SnapshotFile {
    return new SnapshotFile(openSync(file, 'r'), SNAPSHOT_HEADER_BYTES, length);
  }

  /** Bytes [begin, end) of the payload, as a new buffer (clamped to the payload, like Uint8Array's). */
  subarray(begin = 0, end = this.length): Buffer {
    if (this.fd === undefined) throw new Error('snapshot file is closed');
    const from = Math.max(0, Math.min(begin, this.length));
    const to = Math.max(from, Math.min(end, this.length));
    const out = Buffer.allocUnsafe(to - from);
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, this.offset + from + done);
      if (n === 0) throw new Error(`snapshot file ended ${out.length - done} bytes early`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Writes one snapshot's payload in pieces to a temporary file; the Wal finishes it (meta, header,
 * fsync, rename) in `commit`. Made by `Wal.beginSnapshot`.
 */
export class SnapshotWriter {
  private size = 0;
  private crc = 0;
  private done = false;

  /** @internal */
  constructor(
    readonly id: number,
    /** @internal */ readonly temp: string,
    private readonly h: FileHandle,
    private readonly finish: (w: SnapshotWriter, meta: Uint8Array) => Promise<void>,
  ) {}

  /** @internal */
  static async create(id: number, temp: string, finish: (w: SnapshotWriter, meta: Uint8Array) => Promise<void>): Promise<SnapshotWriter> {
    return new SnapshotWriter(id, temp, await open(temp, 'w'), finish);
  }

  /** Payload bytes written so far. */
  get length(): number {
    return this.size;
  }

  /** Appends `chunk` to the payload (not durable until `commit`). Chunks may be reused once this resolves. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new Error(`snapshot ${this.id} is already committed or aborted`);
    if (chunk.length === 0) return;
    const at = SNAPSHOT_HEADER_BYTES + this.size;
    this.size += chunk.length;
    this.crc = crc32c(chunk, this.crc);
    await writeAllAt(this.h, [chunk], at);
  }

  /** A reader of the payload written so far; it stays valid after commit (the file is renamed, not copied). */
  payload(): SnapshotFile {
    return SnapshotFile.open(this.temp, this.size);
  }

  /** Writes `meta` and the header, makes the file durable and puts it in place. */
  commit(meta: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (this.done) return Promise.reject(new Error(`snapshot ${this.id} is already committed or aborted`));
    this.done = true;
    return this.finish(this, meta);
  }

  /** Drops the temporary file. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.h.close().catch(() => {});
    await rm(this.temp, { force: true });
  }

  /** @internal Writes meta and header and fsyncs; the Wal renames. */
  async seal(meta: Uint8Array): Promise<void> {
    try {
      const header = encodeSnapshotHeader(this.id, this.size, meta, crc32c(meta, this.crc));
      if (meta.length > 0) await writeAllAt(this.h, [meta], SNAPSHOT_HEADER_BYTES + this.size);
      await writeAllAt(this.h, [header], 0);
      await this.h.sync();
    } finally {
      await this.h.close();
    }
  }
}
