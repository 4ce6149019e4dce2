import { crc32 } from 'node:zlib';
import { Key, LeaseId, MAX_LEASE_TTL_MS, Revision, Value } from '@synod/protocol';
import { z } from 'zod';
import { ClientId, KvRequestOutcome, Seq } from './commands.js';

/** A snapshot that cannot be restored: not a snapshot, corrupted, or inconsistent. */
export class KvSnapshotError extends Error {
  override readonly name = 'KvSnapshotError';
}

const MAGIC = 'synod-kv';
const FORMAT_VERSION = 2;
const HEADER_BYTES = 16;
const TRAILER_BYTES = 4;
/** Encoded pieces of about this many bytes. */
const CHUNK_BYTES = 256 * 1024;

const Count = z.int().nonnegative();

/** A live version of a key: [modRevision, createRevision, version, lease, value]. */
const LiveEntry = z.tuple([Revision, Revision, z.int().positive(), z.int().nonnegative(), Value]);
/** A delete: [modRevision, 1 if a lease expiry caused it else 0]. */
const TombstoneEntry = z.tuple([Revision, z.union([z.literal(0), z.literal(1)])]);

/**
 * The snapshot body (JSON). Canonical: the same state always gives the same bytes.
 * - keys: every key with retained history, in key order, with its versions in revision order;
 * - events: the change log as flat pairs (index into keys, revision), in apply order;
 * - leases: [id, ttlMs] by id;
 * - sessions: least recently used first, each [clientId, floor, [seq, outcome][] by seq].
 */
export const SnapshotBody = z.object({
  appliedIndex: Count,
  revision: Revision,
  compactRevision: Revision,
  nextLeaseId: LeaseId,
  maxSessions: z.int().positive(),
  maxResultsPerSession: z.int().positive(),
  keys: z.array(z.tuple([Key, z.array(z.union([LiveEntry, TombstoneEntry])).min(1)])),
  events: z.array(Count),
  leases: z.array(z.tuple([LeaseId, z.int().positive().max(MAX_LEASE_TTL_MS)])),
  sessions: z.array(z.tuple([ClientId, Count, z.array(z.tuple([Seq, KvRequestOutcome]))])),
});
export type SnapshotBody = z.infer<typeof SnapshotBody>;
export type SnapshotEntry = z.infer<typeof LiveEntry> | z.infer<typeof TombstoneEntry>;

/**
 * A state captured at one applied index, encoded on demand: `chunks()` yields the snapshot bytes in
 * pieces (a fresh generator each call, each giving the same bytes).
 */
export interface KvSnapshotCapture {
  readonly appliedIndex: number;
  chunks(): Generator<Uint8Array>;
}

/**
 * The snapshot format: a header (magic, format version, 4 reserved bytes), the body as UTF-8 JSON,
 * then the CRC-32 of the body, last so that a writer can stream the body without holding it.
 */
export function encodeSnapshot(body: SnapshotBody): Uint8Array {
  return concatChunks([...encodeSnapshotChunks([JSON.stringify(body)])]);
}

/** Encodes the body given as JSON text pieces into snapshot bytes, in pieces of about CHUNK_BYTES. */
export function* encodeSnapshotChunks(parts: Iterable<string>): Generator<Uint8Array> {
  const header = new Uint8Array(HEADER_BYTES);
  for (let i = 0; i < MAGIC.length; i++) header[i] = MAGIC.charCodeAt(i);
  new DataView(header.buffer).setUint32(8, FORMAT_VERSION);
  yield header;
  const enc = new TextEncoder();
  let crc = 0;
  let pending: string[] = [];
  let pendingLength = 0;
  const flush = (): Uint8Array => {
    const bytes = enc.encode(pending.join(''));
    crc = crc32(bytes, crc);
    pending = [];
    pendingLength = 0;
    return bytes;
  };
  for (const part of parts) {
    pending.push(part);
    pendingLength += part.length;
    if (pendingLength >= CHUNK_BYTES) yield flush();
  }
  if (pendingLength > 0) yield flush();
  const trailer = new Uint8Array(TRAILER_BYTES);
  new DataView(trailer.buffer).setUint32(0, crc);
  yield trailer;
}

export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Checks the header, checksum, JSON and schema; throws KvSnapshotError saying what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotBody {
  if (!(bytes instanceof Uint8Array)) throw new KvSnapshotError('snapshot must be a Uint8Array');
  if (bytes.length < HEADER_BYTES + TRAILER_BYTES) throw new KvSnapshotError(`snapshot too short: ${bytes.length} bytes`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i)) throw new KvSnapshotError('not a kv-state snapshot (bad magic)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8);
  if (version !== FORMAT_VERSION) {
    throw new KvSnapshotError(`unsupported snapshot format ${version} (this build reads ${FORMAT_VERSION})`);
  }
  const json = bytes.subarray(HEADER_BYTES, bytes.length - TRAILER_BYTES);
  if (crc32(json) !== view.getUint32(bytes.length - TRAILER_BYTES)) throw new KvSnapshotError('snapshot checksum mismatch (corrupted)');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (err) {
    throw new KvSnapshotError(`snapshot body is not JSON: ${(err as Error).message}`);
  }
  const parsed = SnapshotBody.safeParse(raw);
  if (!parsed.success) throw new KvSnapshotError(`snapshot body is invalid:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
