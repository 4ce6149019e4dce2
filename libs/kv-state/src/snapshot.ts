import { crc32 } from 'node:zlib';
import { Key, LeaseId, MAX_LEASE_TTL_MS, Revision, Value } from '@synod/protocol';
import { z } from 'zod';
import { ClientId, KvRequestOutcome, Seq } from './commands.js';

/** A snapshot that cannot be restored: not a snapshot, corrupted, or inconsistent. */
export class KvSnapshotError extends Error {
  override readonly name = 'KvSnapshotError';
}

const MAGIC = 'synod-kv';
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;

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

/** Header (magic, format version, CRC-32 of the body) then the body as UTF-8 JSON. */
export function encodeSnapshot(body: SnapshotBody): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body));
  const bytes = new Uint8Array(HEADER_BYTES + json.length);
  for (let i = 0; i < MAGIC.length; i++) bytes[i] = MAGIC.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, FORMAT_VERSION);
  view.setUint32(12, crc32(json));
  bytes.set(json, HEADER_BYTES);
  return bytes;
}

/** Checks the header, checksum, JSON and schema; throws KvSnapshotError saying what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotBody {
  if (!(bytes instanceof Uint8Array)) throw new KvSnapshotError('snapshot must be a Uint8Array');
  if (bytes.length < HEADER_BYTES) throw new KvSnapshotError(`snapshot too short: ${bytes.length} bytes`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC.charCodeAt(i)) throw new KvSnapshotError('not a kv-state snapshot (bad magic)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8);
  if (version !== FORMAT_VERSION) {
    throw new KvSnapshotError(`unsupported snapshot format ${version} (this build reads ${FORMAT_VERSION})`);
  }
  const json = bytes.subarray(HEADER_BYTES);
  if (crc32(json) !== view.getUint32(12)) throw new KvSnapshotError('snapshot checksum mismatch (corrupted)');
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
