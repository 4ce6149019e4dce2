// Small file helpers. Every "durable" step in this library ends in one of the syncs below.
import { writevSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/**
 * fsync a directory. Creating, renaming or deleting a file changes the directory, not the file:
 * until the directory itself is synced, a crash may forget the new name (or bring back the old).
 */
export async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Reads exactly `length` bytes from the start of an open file (read() may return fewer per call). */
export async function readPrefix(h: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await h.read(buf, done, length - done, done);
    if (bytesRead === 0) throw new Error(`file ended after ${done} of ${length} bytes`);
    done += bytesRead;
  }
  return buf;
}

/** The whole content of an open file. */
export async function readAll(h: FileHandle): Promise<Buffer> {
  return readPrefix(h, (await h.stat()).size);
}

/** Reads the first `length` bytes of a file by name. */
export async function readFilePrefix(file: string, length: number): Promise<Buffer> {
  const h = await open(file, 'r');
  try {
    return await readPrefix(h, length);
  } finally {
    await h.close();
  }
}

/**
 * Writes all of `buffers` at `position` with one writev. libuv already loops over short writes,
 * so a short count here means an error it could not report: treat it as a failed write.
 */
export async function writeAllAt(h: FileHandle, buffers: readonly Uint8Array[], position: number): Promise<number> {
  let total = 0;
  for (const b of buffers) total += b.length;
  const { bytesWritten } = await h.writev(buffers as Uint8Array[], position);
  if (bytesWritten !== total) throw new Error(`short write: ${bytesWritten} of ${total} bytes`);
  return total;
}

/** writeAllAt, synchronously (a small write only copies into the page cache). */
export function writeAllAtSync(fd: number, buffers: readonly Uint8Array[], position: number): number {
  let total = 0;
  for (const b of buffers) total += b.length;
  const written = writevSync(fd, buffers as Uint8Array[], position);
  if (written !== total) throw new Error(`short write: ${written} of ${total} bytes`);
  return total;
}
