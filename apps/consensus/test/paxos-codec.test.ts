import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PaxosMessage } from '@synod/paxos';
import { decodePaxosMessage, encodePaxosMessage } from '../src/paxos-codec.js';

const enc = new TextEncoder();
const b = (round: number, node: string) => ({ round, node });

describe('Multi-Paxos peer message codec', () => {
  const m3 = { voters: ['n1', 'n2'], learners: ['n3'] };
  const samples: PaxosMessage[] = [
    { type: 'prePrepare', from: 'n2', to: 'n1', ballot: b(4, 'n2'), commit: 9, transfer: false },
    { type: 'prePrepareResp', from: 'n1', to: 'n2', ballot: b(4, 'n2'), reject: true },
    { type: 'prepare', from: 'n2', to: 'n3', ballot: b(4, 'n2'), fromSlot: 10, commit: 9, transfer: true },
    {
      type: 'promise',
      from: 'n3',
      to: 'n2',
      ballot: b(4, 'n2'),
      reject: false,
      behind: false,
      promised: b(4, 'n2'),
      commit: 9,
      fromSlot: 10,
      entries: [
        { index: 10, ballot: b(3, 'n1'), kind: 'command', data: enc.encode('x') },
        { index: 11, ballot: b(2, 'n3'), kind: 'membership', data: enc.encode('{}'), membership: m3 },
      ],
      done: true,
    },
    { type: 'promise', from: 'n3', to: 'n2', ballot: b(4, 'n2'), reject: true, behind: true, promised: b(0, ''), commit: 0, fromSlot: 1, entries: [], done: true },
    {
      type: 'accept',
      from: 'n1',
      to: 'n2',
      ballot: b(5, 'n1'),
      prevIndex: 7,
      commit: 6,
      entries: [
        { index: 8, ballot: b(5, 'n1'), kind: 'noop', data: new Uint8Array(0) },
        { index: 9, ballot: b(5, 'n1'), kind: 'command', data: enc.encode('hello') },
      ],
    },
    { type: 'accept', from: 'n1', to: 'n3', ballot: b(5, 'n1'), prevIndex: 9, commit: 9, entries: [], notice: true },
    { type: 'acceptResp', from: 'n2', to: 'n1', ballot: b(5, 'n1'), reject: false, index: 9, promised: b(5, 'n1') },
    { type: 'heartbeat', from: 'n1', to: 'n2', ballot: b(5, 'n1'), commit: 9, readRound: 12 },
    { type: 'heartbeatResp', from: 'n2', to: 'n1', ballot: b(5, 'n1'), reject: false, readRound: 12, index: 9, promised: b(5, 'n1') },
    {
      type: 'snap',
      from: 'n1',
      to: 'n3',
      ballot: b(5, 'n1'),
      snapshot: { index: 100, membership: m3, configs: [{ from: 0, membership: m3 }], size: 5 },
      offset: 0,
      data: enc.encode('abcde'),
      done: true,
    },
    { type: 'snapResp', from: 'n3', to: 'n1', ballot: b(5, 'n1'), index: 100, next: 5, reject: false, done: true },
    { type: 'timeoutNow', from: 'n1', to: 'n2', ballot: b(5, 'n1') },
  ];

  it.each(samples.map((m, i) => [`${i} ${m.type}`, m] as const))('round-trips %s', (_t, m) => {
    expect(decodePaxosMessage(encodePaxosMessage(m))).toEqual(m);
  });

  it('refuses garbage with a typed error, never a crash (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodePaxosMessage(bytes);
        } catch (err) {
          expect((err as Error).name).toBe('PeerMessageError');
        }
      }),
    );
  });

  it('refuses a Raft message and a body that does not match the header', () => {
    const raft = enc.encode(JSON.stringify({ type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 1, readRound: 1 }));
    const framed = new Uint8Array(4 + raft.length);
    new DataView(framed.buffer).setUint32(0, raft.length, true);
    framed.set(raft, 4);
    expect(() => decodePaxosMessage(framed)).toThrow(/invalid peer message/);
    const good = encodePaxosMessage(samples[3]!);
    expect(() => decodePaxosMessage(good.subarray(0, good.length - 1))).toThrow(/shorter/);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(() => decodePaxosMessage(longer)).toThrow(/longer/);
  });
});
