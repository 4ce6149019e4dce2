import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePaxosMessage, encodePaxosMessage, type PaxosMessage, type Slot } from '@synod/paxos';
import { decodePeerMessage, encodePeerMessage, type Entry, type RaftMessage } from '@synod/raft';
import { PeerMessageError } from '@synod/replog';

/**
 * Fuzz of the peer codecs: any message round-trips; any byte string, and any damage to a valid
 * frame, is refused with PeerMessageError or decodes to a message that encodes back to it (never
 * another exception, never a message the codec would not have written).
 */

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const num = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const index = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const data = fc.uint8Array({ maxLength: 48 });
const membership = fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) });

/** Damage to a frame: cut, flipped, a float64 or u32 overwritten with a bad value, bytes appended. */
type Damage = { kind: 'cut' | 'flip' | 'f64' | 'u32' | 'append'; at: number; value: number; bytes: Uint8Array };
const damage: fc.Arbitrary<Damage> = fc.record({
  kind: fc.constantFrom('cut', 'flip', 'f64', 'u32', 'append'),
  at: fc.nat(),
  value: fc.constantFrom(Number.NaN, -1, 2.5, Number.POSITIVE_INFINITY, 2 ** 60, 0xffffffff, 7, 0),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
});
function damaged(frame: Uint8Array, d: Damage): Uint8Array {
  const b = frame.slice();
  const v = new DataView(b.buffer);
  switch (d.kind) {
    case 'cut':
      return b.subarray(0, d.at % Math.max(1, b.length));
    case 'flip':
      if (b.length > 0) b[d.at % b.length]! ^= (d.value & 0xff) || 0x80;
      return b;
    case 'f64':
      if (b.length >= 8) v.setFloat64(d.at % (b.length - 7), d.value, true);
      return b;
    case 'u32':
      if (b.length >= 4) v.setUint32(d.at % (b.length - 3), Number.isFinite(d.value) ? d.value >>> 0 : 0xffffffff, true);
      return b;
    case 'append':
      return Uint8Array.from([...b, ...d.bytes]);
  }
}

/** Runs `decode`; anything thrown must be the codec's PeerMessageError. */
function decodeOrRefuse<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(PeerMessageError);
    return undefined;
  }
}

// ------------------------------------------------------------------ Raft

const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ index, term: num, type: fc.constantFrom('normal' as const, 'noop' as const), data }),
  fc.record({ index, term: num, type: fc.constant('membership' as const), data, membership }),
);
const raftBase = { from: id, to: id, term: num };
const raftMessage: fc.Arbitrary<RaftMessage> = fc.oneof(
  fc.record({ type: fc.constant('app' as const), ...raftBase, prevIndex: num, prevTerm: num, commit: num, entries: fc.array(entry, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('app' as const), ...raftBase, prevIndex: num, prevTerm: num, commit: num, entries: fc.constant<Entry[]>([]), notice: fc.constant(true) }),
  fc.record({ type: fc.constant('appResp' as const), ...raftBase, index: num, reject: fc.boolean(), hint: num }),
  fc.record({ type: fc.constantFrom('vote' as const, 'preVote' as const), ...raftBase, lastIndex: num, lastTerm: num, transfer: fc.boolean() }),
  fc.record({ type: fc.constantFrom('voteResp' as const, 'preVoteResp' as const), ...raftBase, reject: fc.boolean() }),
  fc.record({ type: fc.constant('heartbeat' as const), ...raftBase, commit: num, readRound: num }),
  fc.record({ type: fc.constant('heartbeatResp' as const), ...raftBase, readRound: num }),
  fc.record({
    type: fc.constant('snap' as const),
    ...raftBase,
    snapshot: fc.record({ index: num, term: num, membership, size: num }),
    offset: num,
    data,
    done: fc.boolean(),
  }),
  fc.record({ type: fc.constant('snapResp' as const), ...raftBase, index: num, next: num, reject: fc.boolean(), done: fc.boolean() }),
  fc.record({ type: fc.constant('timeoutNow' as const), ...raftBase }),
);

describe('Raft peer codec (fuzz)', () => {
  it('round-trips every message', () => {
    fc.assert(
      fc.property(raftMessage, (m) => {
        expect(decodePeerMessage(encodePeerMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses random bytes with PeerMessageError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void decodeOrRefuse(decodePeerMessage, b)), { numRuns: 1000 });
  });

  it('a damaged frame is refused, or is exactly the encoding of what it decodes to', () => {
    fc.assert(
      fc.property(raftMessage, fc.array(damage, { minLength: 1, maxLength: 3 }), (m, ds) => {
        const bytes = ds.reduce(damaged, encodePeerMessage(m));
        const decoded = decodeOrRefuse(decodePeerMessage, bytes);
        if (decoded) expect(encodePeerMessage(decoded)).toEqual(bytes);
      }),
      { numRuns: 1000 },
    );
  });
});

// ------------------------------------------------------------------ Multi-Paxos

const ballot = fc.record({ round: num, node: fc.oneof(id, fc.constant('')) });
const slot: fc.Arbitrary<Slot> = fc.oneof(
  fc.record({ index, ballot, kind: fc.constantFrom('command' as const, 'noop' as const), data }),
  fc.record({ index, ballot, kind: fc.constant('membership' as const), data, membership }),
);
const paxosBase = { from: id, to: id, ballot };
const paxosMessage: fc.Arbitrary<PaxosMessage> = fc.oneof(
  fc.record({ type: fc.constant('prePrepare' as const), ...paxosBase, commit: num, transfer: fc.boolean() }),
  fc.record({ type: fc.constant('prePrepareResp' as const), ...paxosBase, reject: fc.boolean() }),
  fc.record({ type: fc.constant('prepare' as const), ...paxosBase, fromSlot: num, commit: num, transfer: fc.boolean() }),
  fc.record({
    type: fc.constant('promise' as const),
    ...paxosBase,
    reject: fc.boolean(),
    behind: fc.boolean(),
    promised: ballot,
    commit: num,
    fromSlot: num,
    entries: fc.array(slot, { maxLength: 4 }),
    done: fc.boolean(),
  }),
  fc.record({ type: fc.constant('accept' as const), ...paxosBase, prevIndex: num, commit: num, entries: fc.array(slot, { maxLength: 4 }) }),
  fc.record({ type: fc.constant('accept' as const), ...paxosBase, prevIndex: num, commit: num, entries: fc.constant<Slot[]>([]), notice: fc.constant(true) }),
  fc.record({ type: fc.constant('acceptResp' as const), ...paxosBase, reject: fc.boolean(), index: num, promised: ballot }),
  fc.record({ type: fc.constant('heartbeat' as const), ...paxosBase, commit: num, readRound: num }),
  fc.record({ type: fc.constant('heartbeatResp' as const), ...paxosBase, reject: fc.boolean(), readRound: num, index: num, promised: ballot }),
  fc.record({
    type: fc.constant('snap' as const),
    ...paxosBase,
    snapshot: fc.record({ index: num, membership, configs: fc.array(fc.record({ from: num, membership }), { maxLength: 3 }), size: num }),
    offset: num,
    data,
    done: fc.boolean(),
  }),
  fc.record({ type: fc.constant('snapResp' as const), ...paxosBase, index: num, next: num, reject: fc.boolean(), done: fc.boolean() }),
  fc.record({ type: fc.constant('timeoutNow' as const), ...paxosBase }),
);

describe('Multi-Paxos peer codec (fuzz)', () => {
  it('round-trips every message', () => {
    fc.assert(
      fc.property(paxosMessage, (m) => {
        expect(decodePaxosMessage(encodePaxosMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses random bytes with PeerMessageError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void decodeOrRefuse(decodePaxosMessage, b)), { numRuns: 1000 });
  });

  it('a damaged frame is refused, or decodes to a message that round-trips', () => {
    fc.assert(
      fc.property(paxosMessage, fc.array(damage, { minLength: 1, maxLength: 3 }), (m, ds) => {
        const decoded = decodeOrRefuse(decodePaxosMessage, ds.reduce(damaged, encodePaxosMessage(m)));
        if (decoded) expect(decodePaxosMessage(encodePaxosMessage(decoded))).toEqual(decoded);
      }),
      { numRuns: 1000 },
    );
  });
});
