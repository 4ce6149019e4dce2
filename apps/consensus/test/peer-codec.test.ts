import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RaftMessage } from '@synod/raft';
import { decodePeerMessage, encodePeerMessage } from '../src/peer-codec.js';

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

  it.each([
    ['too short', new Uint8Array([1, 2])],
    ['header past the end', new Uint8Array([200, 0, 0, 0, 1])],
    ['header not JSON', new Uint8Array([3, 0, 0, 0, 0x7b, 0x7b, 0x7b])],
  ])('names the problem: %s', (_what, bytes) => {
    expect(() => decodePeerMessage(bytes)).toThrow(/peer message/);
  });

  it('refuses wrong types and a body that does not match the header', () => {
    const wrong = enc.encode(JSON.stringify({ type: 'heartbeat', from: 'n1', to: 'n2', term: 'three', commit: 1, readRound: 1 }));
    const framed = new Uint8Array(4 + wrong.length);
    new DataView(framed.buffer).setUint32(0, wrong.length, true);
    framed.set(wrong, 4);
    expect(() => decodePeerMessage(framed)).toThrow(/invalid peer message/);
    const good = encodePeerMessage(samples[0]!);
    expect(() => decodePeerMessage(good.subarray(0, good.length - 2))).toThrow(/shorter/);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(() => decodePeerMessage(longer)).toThrow(/longer/);
  });
});
