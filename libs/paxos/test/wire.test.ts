import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePaxosMessage, encodePaxosMessage, type PaxosMessage } from '../src/index.js';

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

  it('refuses a Raft message and a body that does not match its fields', () => {
    // Raft's framing (format 1): a heartbeat n1 -> n2.
    const raft = new Uint8Array([1, 6, 2, 110, 49, 2, 110, 50, ...new Uint8Array(24)]);
    expect(() => decodePaxosMessage(raft)).toThrow(/format version 1; this replica reads version 2/);
    const good = encodePaxosMessage(samples[3]!);
    expect(() => decodePaxosMessage(good.subarray(0, good.length - 1))).toThrow(/shorter/);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expect(() => decodePaxosMessage(longer)).toThrow(/longer/);
  });

  it('names a wrong-typed field: a fractional ballot round, a flag of 2, an empty node id', () => {
    const hb = (): Uint8Array => encodePaxosMessage(samples[8]!).slice();
    // format, type, from (len 2 + "n1"), to (len 2 + "n2"), then the ballot round at 8.
    const round = hb();
    new DataView(round.buffer).setFloat64(8, 2.5, true);
    expect(() => decodePaxosMessage(round)).toThrow(/ballot round is 2.5, not a non-negative integer/);
    const resp = encodePaxosMessage(samples[7]!).slice();
    resp[8 + 8 + 1 + 2] = 2; // after the ballot (round, node "n1"): the reject flag
    expect(() => decodePaxosMessage(resp)).toThrow(/reject is 2, not a flag/);
    const from = hb();
    from[2] = 0;
    expect(() => decodePaxosMessage(from)).toThrow(/from is not a node id/);
  });
});
