// The on-disk formats, as pure functions over buffers (no I/O here). All integers little-endian.
import { crc32c } from './crc32c.js';

// ---------------------------------------------------------------------------------------------
// Records: [u32 length][u32 crc][payload]. The CRC covers the length field AND the payload:
// - a flipped bit in the length is caught even when the bogus length still fits in the file;
// - zero-filled space (what a filesystem may show after a crash extended a file but before its
//   data landed) never reads as a valid empty record, because the CRC of four zero bytes is not 0.
// A record's sequence number is not stored: it is the segment's first sequence number (in the file
// name) plus the record's index in the file.

export const RECORD_HEADER_BYTES = 8;
/** Lengths are u32 on disk. */
export const MAX_RECORD_BYTES = 0xffff_ffff;

/** Frames `records` one after the other into one buffer, ready for a single write. */
export function encodeRecords(records: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const r of records) total += RECORD_HEADER_BYTES + r.length;
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const r of records) {
    out.writeUInt32LE(r.length, off);
    out.writeUInt32LE(crc32c(r, crc32c(out.subarray(off, off + 4))), off + 4);
    out.set(r, off + RECORD_HEADER_BYTES);
    off += RECORD_HEADER_BYTES + r.length;
  }
  return out;
}

export interface RecordScan {
  /** Records found valid, in order. */
  count: number;
  /** Offset just past the last valid record: where the next record goes, or where to truncate. */
  end: number;
  /** Set when the bytes at `end` are not a valid record (and `end` is not the end of the buffer). */
  problem?: string;
}

/** The record starting at `off` if it is complete and its CRC holds, else why not. */
function recordAt(buf: Buffer, off: number): { payloadEnd: number } | { problem: string } {
  const left = buf.length - off;
  if (left < RECORD_HEADER_BYTES) return { problem: `incomplete record header (${left} of ${RECORD_HEADER_BYTES} bytes)` };
  const len = buf.readUInt32LE(off);
  if (len > left - RECORD_HEADER_BYTES) return { problem: `record length ${len} runs past the end of the file` };
  const payloadEnd = off + RECORD_HEADER_BYTES + len;
  const expected = crc32c(buf.subarray(off + RECORD_HEADER_BYTES, payloadEnd), crc32c(buf.subarray(off, off + 4)));
  if (expected !== buf.readUInt32LE(off + 4)) return { problem: 'record CRC mismatch' };
  return { payloadEnd };
}

/**
 * Walks the records of one segment from the start, stopping at the first one that is incomplete or
 * fails its CRC. `onRecord` gets each valid payload (a view into `buf`, not a copy).
 */
export function scanRecords(buf: Buffer, onRecord?: (payload: Buffer) => void): RecordScan {
  let off = 0;
  let count = 0;
  while (off < buf.length) {
    const r = recordAt(buf, off);
    if ('problem' in r) return { count, end: off, problem: r.problem };
    onRecord?.(buf.subarray(off + RECORD_HEADER_BYTES, r.payloadEnd));
    count++;
    off = r.payloadEnd;
  }
  return { count, end: off };
}

/**
 * Whether a valid record starts at any byte offset after `from`. This is what separates a torn
 * tail (the last, unacknowledged write landed only in part: nothing valid after the damage) from
 * damage in the middle of acknowledged data (valid records follow it), including a corrupted
 * length field, which would otherwise make everything after it look like one unfinished record.
 * Cost: one bounds check per byte, and a CRC only where the length read there fits in the file.
 */
export function validRecordAfter(buf: Buffer, from: number): number | undefined {
  for (let off = from + 1; off + RECORD_HEADER_BYTES <= buf.length; off++) {
    if (buf.readUInt32LE(off) > buf.length - off - RECORD_HEADER_BYTES) continue;
    if ('payloadEnd' in recordAt(buf, off)) return off;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Names. Sequence numbers and snapshot ids are safe integers (< 2^53, 16 decimal digits), zero
// padded so that names sort like the numbers.

const SEGMENT_RE = /^(\d{16})\.wal$/;
const SNAPSHOT_RE = /^snapshot-(\d{16})\.snap$/;
const SNAPSHOT_TMP_RE = /^snapshot-\d{16}\.snap(\.\d+)?\.tmp$/;

const pad = (n: number): string => String(n).padStart(16, '0');
export const segmentName = (firstSeq: number): string => `${pad(firstSeq)}.wal`;
export const snapshotName = (id: number): string => `snapshot-${pad(id)}.snap`;
export const META_SLOTS = ['meta-a', 'meta-b'] as const;

export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}
export function parseSnapshotName(name: string): number | undefined {
  const m = SNAPSHOT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}
export const isSnapshotTemp = (name: string): boolean => SNAPSHOT_TMP_RE.test(name);

// ---------------------------------------------------------------------------------------------
// Metadata slot: [u64 version][u32 length][u32 crc][payload], the CRC over version, length and
// payload. Two slots; version v lives in slot (v - 1) % 2, so a write never touches the slot that
// holds the current value.

export const META_HEADER_BYTES = 16;

export function encodeMeta(version: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(META_HEADER_BYTES + payload.length);
  out.writeBigUInt64LE(BigInt(version), 0);
  out.writeUInt32LE(payload.length, 8);
  out.set(payload, META_HEADER_BYTES);
  out.writeUInt32LE(crc32c(payload, crc32c(out.subarray(0, 12))), 12);
  return out;
}

/** The slot's version and payload, or undefined when the slot is empty, torn or damaged. */
export function decodeMeta(buf: Buffer): { version: number; payload: Buffer } | undefined {
  if (buf.length < META_HEADER_BYTES) return undefined;
  const version = buf.readBigUInt64LE(0);
  const len = buf.readUInt32LE(8);
  if (version < 1n || version > BigInt(Number.MAX_SAFE_INTEGER) || len > buf.length - META_HEADER_BYTES) return undefined;
  const payload = buf.subarray(META_HEADER_BYTES, META_HEADER_BYTES + len);
  if (crc32c(payload, crc32c(buf.subarray(0, 12))) !== buf.readUInt32LE(12)) return undefined;
  return { version: Number(version), payload };
}

// ---------------------------------------------------------------------------------------------
// Snapshot file: [u64 id][u64 payload length][u32 meta length][u32 crc][payload][meta]. The CRC
// covers the payload, then the meta, then the first 20 header bytes: everything in the order a
// streaming writer learns it, so a payload of any size is written once, in pieces, and the header
// last. The file must be exactly header + payload + meta long and its id must match its name.

export const SNAPSHOT_HEADER_BYTES = 24;

/** `bodyCrc`: the CRC32C of the payload followed by the meta. */
export function encodeSnapshotHeader(id: number, payloadLength: number, meta: Uint8Array, bodyCrc: number): Buffer {
  const out = Buffer.allocUnsafe(SNAPSHOT_HEADER_BYTES);
  out.writeBigUInt64LE(BigInt(id), 0);
  out.writeBigUInt64LE(BigInt(payloadLength), 8);
  out.writeUInt32LE(meta.length, 16);
  out.writeUInt32LE(crc32c(out.subarray(0, 20), bodyCrc), 20);
  return out;
}

/** What a snapshot header says, or why it cannot be the header of snapshot `id` in a file of `fileSize` bytes. */
export function decodeSnapshotHeader(
  header: Buffer,
  id: number,
  fileSize: number,
): { payloadLength: number; metaLength: number; crc: number } | { problem: string } {
  if (header.length < SNAPSHOT_HEADER_BYTES || fileSize < SNAPSHOT_HEADER_BYTES) return { problem: `file too short for a snapshot header (${fileSize} bytes)` };
  if (header.readBigUInt64LE(0) !== BigInt(id)) return { problem: `header id ${header.readBigUInt64LE(0)} does not match the file name` };
  const payloadLength = header.readBigUInt64LE(8);
  const metaLength = header.readUInt32LE(16);
  if (payloadLength + BigInt(metaLength) !== BigInt(fileSize - SNAPSHOT_HEADER_BYTES)) {
    return { problem: `header says ${payloadLength} payload and ${metaLength} meta bytes but the file holds ${fileSize - SNAPSHOT_HEADER_BYTES}` };
  }
  return { payloadLength: Number(payloadLength), metaLength, crc: header.readUInt32LE(20) };
}

/** The CRC a header must carry, given the CRC of everything after it (payload then meta). */
export function snapshotHeaderCrc(header: Buffer, bodyCrc: number): number {
  return crc32c(header.subarray(0, 20), bodyCrc);
}
