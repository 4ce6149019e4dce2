import { fromUtf8 as dec, utf8 as enc, type CommittedEntry, type Membership, type WalFormat } from '@synod/replog';
import type { Entry, EntryType, HardState, RaftSnapshotExtra } from './types.js';

/**
 * Raft's durable state in a WAL of opaque records (libs/wal's EngineWalStorage):
 *   a record per log entry: [u8 type][f64 index][f64 term][u32 membership JSON length][membership JSON][u32 data length][data]
 *   the meta register: the hard state, JSON { term, vote, commit }
 *   a snapshot's engine metadata: { term } of its last entry
 * Indexes and terms are stored as float64, exact for every integer below 2^53.
 */
const TYPES: EntryType[] = ['normal', 'noop', 'membership'];

export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code = 'RAFT_RECORD_INVALID';
  readonly retryable = false;
}

export function encodeEntry(e: Entry): Uint8Array {
  const m = e.membership ? enc.encode(JSON.stringify(e.membership)) : new Uint8Array(0);
  const out = new Uint8Array(1 + 8 + 8 + 4 + m.length + 4 + e.data.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, TYPES.indexOf(e.type));
  v.setFloat64(1, e.index, true);
  v.setFloat64(9, e.term, true);
  v.setUint32(17, m.length, true);
  out.set(m, 21);
  v.setUint32(21 + m.length, e.data.length, true);
  out.set(e.data, 25 + m.length);
  return out;
}

export function decodeEntry(b: Uint8Array): Entry {
  if (b.length < 25) throw new CodecError(`entry record of ${b.length} bytes is too short`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = TYPES[v.getUint8(0)];
  if (!type) throw new CodecError(`unknown entry type ${v.getUint8(0)}`);
  const index = v.getFloat64(1, true);
  const term = v.getFloat64(9, true);
  if (!Number.isSafeInteger(index) || index < 1 || !Number.isSafeInteger(term) || term < 0) throw new CodecError(`bad index/term ${index}/${term}`);
  const mLen = v.getUint32(17, true);
  if (21 + mLen + 4 > b.length) throw new CodecError('membership length beyond the record');
  const dLen = v.getUint32(21 + mLen, true);
  if (25 + mLen + dLen !== b.length) throw new CodecError('data length does not match the record');
  const e: Entry = { index, term, type, data: b.slice(25 + mLen) };
  if (mLen > 0) e.membership = parseMembership(b.subarray(21, 21 + mLen));
  return e;
}

/** A record's membership JSON, checked: `{ voters, learners }`, arrays of node ids. */
function parseMembership(b: Uint8Array): Membership {
  const m = parseJson(b, 'membership');
  const ids = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof m !== 'object' || m === null || !ids((m as Membership).voters) || !ids((m as Membership).learners)) throw new CodecError('entry membership is not { voters, learners }');
  const { voters, learners } = m as Membership;
  return { voters, learners };
}

function parseJson(b: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(dec.decode(b)) as unknown;
  } catch (err) {
    throw new CodecError(`${what} is not JSON: ${(err as Error).message}`);
  }
}

export function encodeHardState(h: HardState): Uint8Array {
  return enc.encode(JSON.stringify({ term: h.term, vote: h.vote ?? null, commit: h.commit }));
}

export function decodeHardState(b: Uint8Array): HardState {
  const o = parseJson(b, 'hard state record') as { term?: unknown; vote?: unknown; commit?: unknown } | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    !Number.isSafeInteger(o.term) ||
    (o.term as number) < 0 ||
    !Number.isSafeInteger(o.commit) ||
    (o.commit as number) < 0 ||
    (o.vote !== null && typeof o.vote !== 'string')
  ) {
    throw new CodecError('invalid hard state record');
  }
  return { term: o.term as number, vote: (o.vote as string | null) ?? undefined, commit: o.commit as number };
}

/** The committed-entry view of a log entry (what the state machine is handed). */
export function toCommitted(e: Entry): CommittedEntry {
  const c: CommittedEntry = { index: e.index, kind: e.type === 'normal' ? 'command' : e.type, data: e.data };
  if (e.membership) c.membership = e.membership;
  return c;
}

export const raftWalFormat: WalFormat<Entry, HardState, RaftSnapshotExtra> = {
  engine: 'Raft',
  encodeRecord: encodeEntry,
  decodeRecord: decodeEntry,
  encodeMeta: encodeHardState,
  decodeMeta: decodeHardState,
  // Term and vote must be durable before any message promising them goes out; a commit index
  // alone need not be (after a restart the leader tells it again), so a change of commit only is
  // written with the next term or vote change instead of costing an fsync per write.
  metaMustPersist: (next, last) => !last || next.term !== last.term || next.vote !== last.vote,
  // A record at `index` supersedes every entry from `index` on.
  supersedes: 'suffix',
  parseExtra(json) {
    const term = (json as { term?: unknown } | null)?.term;
    if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0) throw new Error('the term is missing or invalid');
    return { term };
  },
  entryOf: toCommitted,
};

/**
 * A member of a new cluster seeded from a state-machine snapshot: the snapshot at `index` (its
 * entry counted in term 1) and a hard state committed there; the log goes on from `index + 1`.
 */
export function raftBootstrap(s: { index: number; membership: Membership; data: Uint8Array }) {
  return {
    snapshot: { index: s.index, membership: s.membership, extra: { term: 1 }, data: s.data },
    records: [] as Entry[],
    meta: { term: 1, vote: undefined, commit: s.index } satisfies HardState,
  };
}
