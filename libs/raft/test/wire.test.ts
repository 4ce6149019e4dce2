import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RaftMessage } from '../src/index.js';
import { PeerMessageError } from '@synod/replog';
import { decodePeerMessage, encodePeerMessage } from '../src/index.js';

const enc = new TextEncoder();

describe('peer message codec', () => {
  const samples: RaftMessage[] = [
    {
      type: 'app',
      from: 'n1',
      to: 'n2',
      term: 3,
      prevIndex: 7,
      prevTerm: 2,
      commit: 6,
      entries: [
        { index: 8, term: 3, type: 'noop', data: new Uint8Array(0) },
        { index: 9, term: 3, type: 'normal', data: enc.encode('hello') },
        { index: 10, term: 3, type: 'membership', data: enc.encode('{}'), membership: { voters: ['n1', 'n2'], learners: ['n3'] } },
      ],
    },
    { type: 'app', from: 'n1', to: 'n3', term: 3, prevIndex: 10, prevTerm: 3, commit: 10, entries: [], notice: true },
    { type: 'appResp', from: 'n2', to: 'n1', term: 3, index: 10, reject: false, hint: 0 },
    { type: 'preVote', from: 'n3', to: 'n1', term: 4, lastIndex: 9, lastTerm: 3, transfer: false },
    { type: 'voteResp', from: 'n1', to: 'n3', term: 4, reject: true },
    { type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 9, readRound: 12 },
    { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 3, readRound: 12 },
    { type: 'snap', from: 'n1', to: 'n3', term: 3, snapshot: { index: 100, term: 3, membership: { voters: ['n1'], learners: [] }, size: 5 }, offset: 0, data: enc.encode('abcde'), done: true },
    { type: 'snapResp', from: 'n3', to: 'n1', term: 3, index: 100, next: 5, reject: false, done: true },
    { type: 'timeoutNow', from: 'n1', to: 'n2', term: 3 },
  ];

  it.each(samples.map((m) => [m.type, m] as const))('round-trips %s', (_t, m) => {
    expect(decodePeerMessage(encodePeerMessage(m))).toEqual(m);
  });

  it('refuses garbage with a typed error, never a crash (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodePeerMessage(bytes);
        } catch (err) {
          expect((err as Error).name).toBe('PeerMessageError');
        }
      }),
    );
  });

  /** A heartbeat n1 -> n2 at term 3, commit 9, readRound 12, with `patch` applied to its bytes. */
  const heartbeat = (patch: (b: Uint8Array, v: DataView) => void = () => {}): Uint8Array => {
    const b = encodePeerMessage({ type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 9, readRound: 12 }).slice();
    patch(b, new DataView(b.buffer, b.byteOffset, b.byteLength));
    return b;
  };
  // Layout: version, type, from (len 2 + "n1"), to (len 2 + "n2"), term at 8, commit at 16, readRound at 24.
  const TERM = 8;

  it('the bytes as documented: version, type, from, to, term, fields', () => {
    const b = heartbeat();
    expect([...b.subarray(0, 8)]).toEqual([1, 6, 2, 110, 49, 2, 110, 50]);
    expect(new DataView(b.buffer, b.byteOffset).getFloat64(TERM, true)).toBe(3);
    expect(b.length).toBe(32);
  });

  it.each([
    ['too short', new Uint8Array([1]), /too short/],
    ['another format version', heartbeat((b) => (b[0] = 2)), /format version 2.*same release/],
    ['the old JSON framing', new Uint8Array([10, 0, 0, 0, ...enc.encode('{"type":1}')]), /format version 10/],
    ['an unknown type', heartbeat((b) => (b[1] = 200)), /unknown type 200/],
    ['an empty node id', heartbeat((b) => (b[2] = 0)), /from is not a node id/],
    ['a node id with a dot', heartbeat((b) => (b[4] = 46)), /from is not a node id/],
    ['a fractional term', heartbeat((_b, v) => v.setFloat64(TERM, 2.5, true)), /term is 2.5, not a non-negative integer/],
    ['a negative term', heartbeat((_b, v) => v.setFloat64(TERM, -1, true)), /term is -1/],
    ['a NaN commit', heartbeat((_b, v) => v.setFloat64(16, Number.NaN, true)), /commit is NaN/],
    ['a term past 2^53', heartbeat((_b, v) => v.setFloat64(TERM, 2 ** 60, true)), /term is/],
  ])('names the problem: %s', (_what, bytes, message) => {
    expect(() => decodePeerMessage(bytes)).toThrow(message);
    expect(() => decodePeerMessage(bytes)).toThrow(PeerMessageError);
  });

  it('refuses a flag that is neither 0 nor 1, an unknown entry type and an entry at index 0', () => {
    const resp = encodePeerMessage({ type: 'appResp', from: 'n2', to: 'n1', term: 3, index: 10, reject: false, hint: 0 }).slice();
    resp[16 + 8] = 7; // index at 16, then the reject flag
    expect(() => decodePeerMessage(resp)).toThrow(/reject is 7, not a flag/);
    const app = (): Uint8Array => encodePeerMessage({ type: 'app', from: 'n1', to: 'n2', term: 3, prevIndex: 7, prevTerm: 2, commit: 6, entries: [{ index: 8, term: 3, type: 'normal', data: enc.encode('x') }] }).slice();
    // term at 8; prevIndex 16, prevTerm 24, commit 32, notice 40, count 41; entry: index 45, term 53, type 61
    const badKind = app();
    badKind[61] = 9;
    expect(() => decodePeerMessage(badKind)).toThrow(/unknown entry type/);
    const zero = app();
    new DataView(zero.buffer).setFloat64(45, 0, true);
    expect(() => decodePeerMessage(zero)).toThrow(/entry index 0/);
    const many = app();
    new DataView(many.buffer).setUint32(41, 100_001, true);
    expect(() => decodePeerMessage(many)).toThrow(/100001 entries, at most 100000/);
  });

  it('refuses a body shorter or longer than its fields say', () => {
    const good = encodePeerMessage(samples[0]!);
    expect(() => decodePeerMessage(good.subarray(0, good.length - 2))).toThrow(/shorter than its fields say \(at entry data\)/);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(() => decodePeerMessage(longer)).toThrow(/longer than its fields say \(1 bytes left over\)/);
  });

  it('decoded entry data is a copy: reusing the buffer it came in does not change the entry', () => {
    const b = encodePeerMessage(samples[0]!).slice();
    const m = decodePeerMessage(b);
    b.fill(0);
    expect(m).toEqual(samples[0]);
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encodePeerMessage({ type: 'timeoutNow', from: 'n.1', to: 'n2', term: 1 })).toThrow(/node id "n.1"/);
    expect(() => encodePeerMessage({ type: 'timeoutNow', from: 'x'.repeat(65), to: 'n2', term: 1 })).toThrow(/cannot be encoded/);
  });
});
