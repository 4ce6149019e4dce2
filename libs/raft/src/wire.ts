import { membershipSize, PeerMessageError, WireReader, WireWriter, type PeerCodec } from '@synod/replog';
import type { Entry, EntryType, RaftMessage } from './types.js';

/**
 * Raft messages on the bus, in the shared binary framing (libs/replog's wire.ts):
 *
 *   u8 version (1) · u8 type · from · to · term · the type's fields
 *
 * An append carries u32 count then per entry: index, term, u8 kind, for a membership entry its
 * voters and learners, the data. A snapshot chunk carries the snapshot's index, term, membership
 * and size, then offset, done and the chunk.
 */
const VERSION = 1;
const TYPES = ['app', 'appResp', 'vote', 'preVote', 'voteResp', 'preVoteResp', 'heartbeat', 'heartbeatResp', 'snap', 'snapResp', 'timeoutNow'] as const;
type MsgType = (typeof TYPES)[number];
const TYPE_CODE = new Map<string, number>(TYPES.map((t, i) => [t, i]));
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'noop', 'membership'];
const ENTRY_CODE = new Map<string, number>(ENTRY_TYPES.map((t, i) => [t, i]));
const MAX_ENTRIES = 100_000;

/** Bytes of the fields after from/to/term, by type (an upper bound is enough: the result is trimmed). */
function bodySize(m: RaftMessage): number {
  switch (m.type) {
    case 'app': {
      let n = 3 * 8 + 1 + 4;
      for (const e of m.entries) n += 2 * 8 + 1 + 4 + e.data.length + (e.type === 'membership' && e.membership ? membershipSize(e.membership) : 0);
      return n;
    }
    case 'snap':
      return 4 * 8 + membershipSize(m.snapshot.membership) + 8 + 1 + 4 + m.data.length;
    default:
      return 4 * 8;
  }
}

export function encodePeerMessage(m: RaftMessage): Uint8Array {
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new PeerMessageError(`unknown peer message type ${String(m.type)}`);
  const w = new WireWriter(VERSION, code, m.from, m.to, 8 + bodySize(m));
  w.num(m.term);
  switch (m.type) {
    case 'app':
      w.num(m.prevIndex);
      w.num(m.prevTerm);
      w.num(m.commit);
      w.flag(m.notice);
      w.u32(m.entries.length);
      for (const e of m.entries) {
        w.num(e.index);
        w.num(e.term);
        const kind = ENTRY_CODE.get(e.type);
        if (kind === undefined) throw new PeerMessageError(`unknown entry type ${String(e.type)}`);
        w.u8(kind);
        if (e.type === 'membership') {
          if (!e.membership) throw new PeerMessageError(`membership entry ${e.index} has no membership`);
          w.membership(e.membership);
        }
        w.bytes(e.data);
      }
      break;
    case 'appResp':
      w.num(m.index);
      w.flag(m.reject);
      w.num(m.hint);
      break;
    case 'vote':
    case 'preVote':
      w.num(m.lastIndex);
      w.num(m.lastTerm);
      w.flag(m.transfer);
      break;
    case 'voteResp':
    case 'preVoteResp':
      w.flag(m.reject);
      break;
    case 'heartbeat':
      w.num(m.commit);
      w.num(m.readRound);
      break;
    case 'heartbeatResp':
      w.num(m.readRound);
      break;
    case 'snap':
      w.num(m.snapshot.index);
      w.num(m.snapshot.term);
      w.membership(m.snapshot.membership);
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

function readEntries(r: WireReader): Entry[] {
  const count = r.count('entries', MAX_ENTRIES);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const index = r.index('entry index');
    const term = r.num('entry term');
    const type = r.oneOf('entry type', ENTRY_TYPES);
    const membership = type === 'membership' ? r.membership('entry membership') : undefined;
    const entry: Entry = { index, term, type, data: r.bytes('entry data') };
    if (membership) entry.membership = membership;
    entries.push(entry);
  }
  return entries;
}

export function decodePeerMessage(b: Uint8Array): RaftMessage {
  const r = new WireReader(b, VERSION, TYPES);
  const type = r.type as MsgType;
  const { from, to } = r;
  const term = r.num('term');
  let m: RaftMessage;
  switch (type) {
    case 'app': {
      const prevIndex = r.num('prevIndex');
      const prevTerm = r.num('prevTerm');
      const commit = r.num('commit');
      const notice = r.flag('notice');
      m = { type, from, to, term, prevIndex, prevTerm, commit, entries: readEntries(r) };
      if (notice) m.notice = true;
      break;
    }
    case 'appResp':
      m = { type, from, to, term, index: r.num('index'), reject: r.flag('reject'), hint: r.num('hint') };
      break;
    case 'vote':
    case 'preVote':
      m = { type, from, to, term, lastIndex: r.num('lastIndex'), lastTerm: r.num('lastTerm'), transfer: r.flag('transfer') };
      break;
    case 'voteResp':
    case 'preVoteResp':
      m = { type, from, to, term, reject: r.flag('reject') };
      break;
    case 'heartbeat':
      m = { type, from, to, term, commit: r.num('commit'), readRound: r.num('readRound') };
      break;
    case 'heartbeatResp':
      m = { type, from, to, term, readRound: r.num('readRound') };
      break;
    case 'snap': {
      const snapshot = { index: r.num('snapshot index'), term: r.num('snapshot term'), membership: r.membership('snapshot membership'), size: r.num('snapshot size') };
      m = { type, from, to, term, snapshot, offset: r.num('offset'), done: r.flag('done'), data: r.bytes('snapshot chunk') };
      break;
    }
    case 'snapResp':
      m = { type, from, to, term, index: r.num('index'), next: r.num('next'), reject: r.flag('reject'), done: r.flag('done') };
      break;
    case 'timeoutNow':
      m = { type, from, to, term };
      break;
  }
  r.end();
  return m;
}

export const raftCodec: PeerCodec<RaftMessage> = { encode: encodePeerMessage, decode: decodePeerMessage };
