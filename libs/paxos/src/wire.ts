import { membershipSize, PeerMessageError, WireReader, WireWriter, type PeerCodec } from '@synod/replog';
import type { Ballot, ConfigEpoch, PaxosMessage, Slot, SlotKind } from './types.js';

/**
 * Multi-Paxos messages on the bus, in the shared binary framing (libs/replog's wire.ts):
 *
 *   u8 format (2) · u8 type · from · to · ballot · the type's fields
 *
 * A ballot is its round (a number) and its node (an id, empty in the zero ballot). A value (in an
 * accept or a promise) is its slot, ballot, u8 kind, a flag and the membership it establishes when
 * set, then its data. A snapshot chunk carries the snapshot's index, membership, configuration
 * epochs (u32 count, then each one's first slot and membership) and size, then offset, done and the
 * chunk. The format number differs from Raft's (1): a replica of the other engine is refused, not
 * misread.
 */
const VERSION = 2;
const TYPES = ['prePrepare', 'prePrepareResp', 'prepare', 'promise', 'accept', 'acceptResp', 'heartbeat', 'heartbeatResp', 'snap', 'snapResp', 'timeoutNow'] as const;
type MsgType = (typeof TYPES)[number];
const TYPE_CODE = new Map<string, number>(TYPES.map((t, i) => [t, i]));
const KINDS: readonly SlotKind[] = ['command', 'noop', 'membership'];
const KIND_CODE = new Map<string, number>(KINDS.map((k, i) => [k, i]));
const MAX_ENTRIES = 100_000;
const MAX_CONFIGS = 64;

const ballotSize = (b: Ballot): number => 8 + 1 + b.node.length;

function slotsSize(slots: readonly Slot[]): number {
  let n = 4;
  for (const s of slots) n += 8 + ballotSize(s.ballot) + 2 + (s.membership ? membershipSize(s.membership) : 0) + 4 + s.data.length;
  return n;
}

/** Bytes of the fields after the header and ballot, by type (an upper bound is enough). */
function bodySize(m: PaxosMessage): number {
  switch (m.type) {
    case 'promise':
      return 4 * 8 + 3 + ballotSize(m.promised) + slotsSize(m.entries);
    case 'accept':
      return 2 * 8 + 1 + slotsSize(m.entries);
    case 'acceptResp':
    case 'heartbeatResp':
      return 3 * 8 + 1 + ballotSize(m.promised);
    case 'snap':
      return 4 * 8 + 1 + membershipSize(m.snapshot.membership) + 4 + m.snapshot.configs.reduce((n, c) => n + 8 + membershipSize(c.membership), 0) + 4 + m.data.length;
    default:
      return 4 * 8;
  }
}

function writeBallot(w: WireWriter, b: Ballot): void {
  w.num(b.round);
  w.id(b.node, true);
}

function readBallot(r: WireReader, what: string): Ballot {
  return { round: r.num(`${what} round`), node: r.id(`${what} node`, true) };
}

function writeSlots(w: WireWriter, slots: readonly Slot[]): void {
  w.u32(slots.length);
  for (const s of slots) {
    w.num(s.index);
    writeBallot(w, s.ballot);
    const kind = KIND_CODE.get(s.kind);
    if (kind === undefined) throw new PeerMessageError(`unknown slot kind ${String(s.kind)}`);
    w.u8(kind);
    w.flag(s.membership !== undefined);
    if (s.membership) w.membership(s.membership);
    w.bytes(s.data);
  }
}

function readSlots(r: WireReader): Slot[] {
  const count = r.count('values', MAX_ENTRIES);
  const slots: Slot[] = [];
  for (let i = 0; i < count; i++) {
    const index = r.index('slot');
    const ballot = readBallot(r, 'value ballot');
    const kind = r.oneOf('slot kind', KINDS);
    const membership = r.flag('has membership') ? r.membership('value membership') : undefined;
    const s: Slot = { index, ballot, kind, data: r.bytes('value data') };
    if (membership) s.membership = membership;
    slots.push(s);
  }
  return slots;
}

function readConfigs(r: WireReader): ConfigEpoch[] {
  const n = r.count('configurations', MAX_CONFIGS);
  const configs: ConfigEpoch[] = [];
  for (let i = 0; i < n; i++) configs.push({ from: r.num('configuration start'), membership: r.membership('configuration') });
  return configs;
}

export function encodePaxosMessage(m: PaxosMessage): Uint8Array {
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new PeerMessageError(`unknown peer message type ${String(m.type)}`);
  const w = new WireWriter(VERSION, code, m.from, m.to, ballotSize(m.ballot) + bodySize(m));
  writeBallot(w, m.ballot);
  switch (m.type) {
    case 'prePrepare':
      w.num(m.commit);
      w.flag(m.transfer);
      break;
    case 'prePrepareResp':
      w.flag(m.reject);
      break;
    case 'prepare':
      w.num(m.fromSlot);
      w.num(m.commit);
      w.flag(m.transfer);
      break;
    case 'promise':
      w.flag(m.reject);
      w.flag(m.behind);
      writeBallot(w, m.promised);
      w.num(m.commit);
      w.num(m.fromSlot);
      w.flag(m.done);
      writeSlots(w, m.entries);
      break;
    case 'accept':
      w.num(m.prevIndex);
      w.num(m.commit);
      w.flag(m.notice);
      writeSlots(w, m.entries);
      break;
    case 'acceptResp':
      w.flag(m.reject);
      w.num(m.index);
      writeBallot(w, m.promised);
      break;
    case 'heartbeat':
      w.num(m.commit);
      w.num(m.readRound);
      break;
    case 'heartbeatResp':
      w.flag(m.reject);
      w.num(m.readRound);
      w.num(m.index);
      writeBallot(w, m.promised);
      break;
    case 'snap':
      w.num(m.snapshot.index);
      w.membership(m.snapshot.membership);
      if (m.snapshot.configs.length > MAX_CONFIGS) throw new PeerMessageError(`${m.snapshot.configs.length} configurations cannot be encoded`);
      w.u32(m.snapshot.configs.length);
      for (const c of m.snapshot.configs) {
        w.num(c.from);
        w.membership(c.membership);
      }
      w.num(m.snapshot.size);
      w.num(m.offset);
      w.flag(m.done);
      w.bytes(m.data);
      break;
    case 'snapResp':
      w.num(m.index);
      w.num(m.next);
      w.flag(m.reject);
      w.flag(m.done);
      break;
    case 'timeoutNow':
      break;
  }
  return w.finish();
}

export function decodePaxosMessage(b: Uint8Array): PaxosMessage {
  const r = new WireReader(b, VERSION, TYPES);
  const type = r.type as MsgType;
  const { from, to } = r;
  const ballot = readBallot(r, 'ballot');
  let m: PaxosMessage;
  switch (type) {
    case 'prePrepare':
      m = { type, from, to, ballot, commit: r.num('commit'), transfer: r.flag('transfer') };
      break;
    case 'prePrepareResp':
      m = { type, from, to, ballot, reject: r.flag('reject') };
      break;
    case 'prepare':
      m = { type, from, to, ballot, fromSlot: r.num('fromSlot'), commit: r.num('commit'), transfer: r.flag('transfer') };
      break;
    case 'promise': {
      const reject = r.flag('reject');
      const behind = r.flag('behind');
      const promised = readBallot(r, 'promised');
      const commit = r.num('commit');
      const fromSlot = r.num('fromSlot');
      const done = r.flag('done');
      m = { type, from, to, ballot, reject, behind, promised, commit, fromSlot, done, entries: readSlots(r) };
      break;
    }
    case 'accept': {
      const prevIndex = r.num('prevIndex');
      const commit = r.num('commit');
      const notice = r.flag('notice');
      m = { type, from, to, ballot, prevIndex, commit, entries: readSlots(r) };
      if (notice) m.notice = true;
      break;
    }
    case 'acceptResp':
      m = { type, from, to, ballot, reject: r.flag('reject'), index: r.num('index'), promised: readBallot(r, 'promised') };
      break;
    case 'heartbeat':
      m = { type, from, to, ballot, commit: r.num('commit'), readRound: r.num('readRound') };
      break;
    case 'heartbeatResp':
      m = { type, from, to, ballot, reject: r.flag('reject'), readRound: r.num('readRound'), index: r.num('index'), promised: readBallot(r, 'promised') };
      break;
    case 'snap': {
      const index = r.num('snapshot index');
      const membership = r.membership('snapshot membership');
      const configs = readConfigs(r);
      const snapshot = { index, membership, configs, size: r.num('snapshot size') };
      m = { type, from, to, ballot, snapshot, offset: r.num('offset'), done: r.flag('done'), data: r.bytes('snapshot chunk') };
      break;
    }
    case 'snapResp':
      m = { type, from, to, ballot, index: r.num('index'), next: r.num('next'), reject: r.flag('reject'), done: r.flag('done') };
      break;
    case 'timeoutNow':
      m = { type, from, to, ballot };
      break;
  }
  r.end();
  return m;
}

export const paxosCodec: PeerCodec<PaxosMessage> = { encode: encodePaxosMessage, decode: decodePaxosMessage };
