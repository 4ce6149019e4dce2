import { fromUtf8 as dec, utf8 as enc, type CommittedEntry, type Membership, type WalFormat } from '@synod/replog';
import { sameBallot, type Ballot, type PaxosMeta, type PaxosSnapshotExtra, type Slot, type SlotKind } from './types.js';

/**
 * An acceptor's durable state in a WAL of opaque records (libs/wal's EngineWalStorage):
 *   a record per accepted value: [u8 kind][f64 index][f64 ballot round][u16 ballot node length][ballot node]
 *                                [u32 membership JSON length][membership JSON][u32 data length][data]
 *     (a later record for a slot supersedes the earlier one, and only it)
 *   the meta register: JSON { promised: [round, node], commit }
 *   a snapshot's engine metadata: the configuration epochs in force after it
 * Numbers are stored as float64, exact for every integer below 2^53. A restart replays from the
 * oldest record still holding a slot after the snapshot.
 */
const KINDS: SlotKind[] = ['command', 'noop', 'membership'];

export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code = 'PAXOS_RECORD_INVALID';
  readonly retryable = false;
}

export function encodeSlot(s: Slot): Uint8Array {
  const node = enc.encode(s.ballot.node);
  const m = s.membership ? enc.encode(JSON.stringify(s.membership)) : new Uint8Array(0);
  const out = new Uint8Array(1 + 8 + 8 + 2 + node.length + 4 + m.length + 4 + s.data.length);
  const v = new DataView(out.buffer);
  let at = 0;
  v.setUint8(at, KINDS.indexOf(s.kind));
  v.setFloat64((at += 1), s.index, true);
  v.setFloat64((at += 8), s.ballot.round, true);
  v.setUint16((at += 8), node.length, true);
  out.set(node, (at += 2));
  v.setUint32((at += node.length), m.length, true);
  out.set(m, (at += 4));
  v.setUint32((at += m.length), s.data.length, true);
  out.set(s.data, (at += 4));
  return out;
}

export function decodeSlot(b: Uint8Array): Slot {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const need = (n: number) => {
    if (n > b.length) throw new CodecError(`accepted-value record of ${b.length} bytes is too short`);
  };
  need(19);
  const kind = KINDS[v.getUint8(0)];
  if (!kind) throw new CodecError(`unknown slot kind ${v.getUint8(0)}`);
  const index = v.getFloat64(1, true);
  const round = v.getFloat64(9, true);
  if (!Number.isSafeInteger(index) || index < 1 || !Number.isSafeInteger(round) || round < 0) throw new CodecError(`bad slot/round ${index}/${round}`);
  const nLen = v.getUint16(17, true);
  need(19 + nLen + 4);
  const node = dec.decode(b.subarray(19, 19 + nLen));
  let at = 19 + nLen;
  const mLen = v.getUint32(at, true);
  at += 4;
  need(at + mLen + 4);
  const membership = mLen > 0 ? parseMembership(b.subarray(at, at + mLen)) : undefined;
  at += mLen;
  const dLen = v.getUint32(at, true);
  at += 4;
  if (at + dLen !== b.length) throw new CodecError('data length does not match the record');
  const s: Slot = { index, ballot: { round, node }, kind, data: b.slice(at) };
  if (membership) s.membership = membership;
  return s;
}

export function encodeMeta(m: PaxosMeta): Uint8Array {
  return enc.encode(JSON.stringify({ promised: [m.promised.round, m.promised.node], commit: m.commit }));
}

export function decodeMeta(b: Uint8Array): PaxosMeta {
  const o = parseJson(b, 'paxos meta record') as { promised?: unknown; commit?: unknown } | null;
  const p = typeof o === 'object' && o !== null ? o.promised : undefined;
  if (
    !Array.isArray(p) ||
    p.length !== 2 ||
    !Number.isSafeInteger(p[0]) ||
    (p[0] as number) < 0 ||
    typeof p[1] !== 'string' ||
    !Number.isSafeInteger(o!.commit) ||
    (o!.commit as number) < 0
  ) {
    throw new CodecError('invalid paxos meta record');
  }
  return { promised: { round: p[0] as number, node: p[1] } satisfies Ballot, commit: o!.commit as number };
}

/** The committed-entry view of a slot's value (what the state machine is handed). */
export function toCommitted(s: Slot): CommittedEntry {
  const c: CommittedEntry = { index: s.index, kind: s.kind, data: s.data };
  if (s.membership) c.membership = s.membership;
  return c;
}

export const paxosWalFormat: WalFormat<Slot, PaxosMeta, PaxosSnapshotExtra> = {
  engine: 'Paxos',
  encodeRecord: encodeSlot,
  decodeRecord: decodeSlot,
  encodeMeta,
  decodeMeta,
  // The promise must be durable before any message relying on it goes out; the chosen prefix
  // alone need not be (a restart re-learns it), so it rides along with the next promise change.
  metaMustPersist: (next, last) => !last || !sameBallot(next.promised, last.promised),
  // A record for a slot supersedes only that slot (unlike Raft's, which cuts the suffix).
  supersedes: 'slot',
  parseExtra(json) {
    const configs = (json as { configs?: unknown } | null)?.configs;
    if (!Array.isArray(configs)) throw new Error('the configuration epochs are missing');
    return { configs } as PaxosSnapshotExtra;
  },
  entryOf: toCommitted,
};

/** A member of a new cluster seeded from a state-machine snapshot at `index`, with `membership` in force from there. */
export function paxosBootstrap(s: { index: number; membership: Membership; data: Uint8Array }) {
  return {
    snapshot: { index: s.index, membership: s.membership, extra: { configs: [{ from: 0, membership: s.membership }] } satisfies PaxosSnapshotExtra, data: s.data },
    records: [] as Slot[],
  };
}
/** A record's membership JSON, checked: `{ voters, learners }`, arrays of node ids. */
function parseMembership(b: Uint8Array): Membership {
  const m = parseJson(b, 'slot membership');
  const ids = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof m !== 'object' || m === null || !ids((m as Membership).voters) || !ids((m as Membership).learners)) throw new CodecError('slot membership is not { voters, learners }');
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
