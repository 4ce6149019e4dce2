import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  commitReach,
  jointValue,
  majorityValue,
  mergeAppends,
  nextChunk,
  PeerMessageError,
  Progress,
  ReadTracker,
  snapshotAnswered,
  SnapshotReceiver,
  voteResult,
  WireReader,
  WireWriter,
  type Membership,
} from '../src/index.js';

const m = (voters: string[]): Membership => ({ voters, learners: [] });

describe('quorums over one or several configurations', () => {
  it('the highest value a majority reached; joint: the smallest over the configurations', () => {
    const match: Record<string, number> = { a: 9, b: 5, c: 7, d: 1, e: 3 };
    expect(majorityValue(['a', 'b', 'c'], (id) => match[id]!)).toBe(7);
    expect(majorityValue(['a', 'b', 'c', 'd'], (id) => match[id]!)).toBe(5);
    expect(majorityValue([], () => 1)).toBe(0);
    expect(jointValue([m(['a', 'b', 'c']), m(['c', 'd', 'e'])], (id) => match[id]!)).toBe(3);
    // Never heard from: -Infinity sorts last, not as NaN.
    expect(majorityValue(['a', 'b', 'c'], (id) => (id === 'a' ? 4 : -Infinity))).toBe(-Infinity);
  });

  it('a vote is won by a majority of every configuration and lost once one cannot be reached', () => {
    const votes = (v: Record<string, boolean>) => new Map(Object.entries(v));
    expect(voteResult([m(['a', 'b', 'c'])], votes({ a: true, b: true }))).toBe('won');
    expect(voteResult([m(['a', 'b', 'c'])], votes({ a: true, b: false }))).toBe('pending');
    expect(voteResult([m(['a', 'b', 'c'])], votes({ a: true, b: false, c: false }))).toBe('lost');
    // Four voters: two refusals leave at most two grants, not a majority.
    expect(voteResult([m(['a', 'b', 'c', 'd'])], votes({ a: true, b: false, c: false }))).toBe('lost');
    expect(voteResult([m(['a', 'b', 'c']), m(['c', 'd', 'e'])], votes({ a: true, b: true, c: true }))).toBe('pending');
    expect(voteResult([m(['a', 'b', 'c']), m(['c', 'd', 'e'])], votes({ a: true, b: true, c: true, d: true }))).toBe('won');
  });
});

describe('ReadTracker', () => {
  const configs = [m(['a', 'b', 'c'])];

  it('serves a read once a quorum acknowledged a round sent after it; reads share the next round', () => {
    const t = new ReadTracker({ electionTicks: 10, leaseDriftTicks: 2 });
    const acks: Record<string, number> = { b: 0, c: 0 };
    t.request('r1', 5, false);
    t.request('r2', 6, false);
    expect(t.roundPending).toBe(true);
    const round = t.newRound(0);
    t.release(configs, 'a', (id) => acks[id]!);
    expect(t.takeStates()).toEqual([]);
    acks.b = round;
    t.release(configs, 'a', (id) => acks[id]!);
    expect(t.takeStates()).toEqual([
      { ctx: 'r1', index: 5 },
      { ctx: 'r2', index: 6 },
    ]);
    t.request('now', 7, true);
    expect(t.takeStates()).toEqual([{ ctx: 'now', index: 7 }]);
  });

  it('the lease holds while a quorum acknowledged a round sent within electionTicks - drift', () => {
    const t = new ReadTracker({ electionTicks: 10, leaseDriftTicks: 2 });
    const r = t.newRound(100);
    const acks = { b: r, c: 0 };
    expect(t.leaseValid(107, configs, 'a', (id) => acks[id as 'b' | 'c'])).toBe(true);
    expect(t.leaseValid(108, configs, 'a', (id) => acks[id as 'b' | 'c'])).toBe(false);
    expect(t.leaseValid(101, configs, 'a', () => 0)).toBe(false);
  });

  it('reads asked too early wait and start together; leadership lost drops them', () => {
    const t = new ReadTracker({ electionTicks: 10, leaseDriftTicks: 2 });
    t.wait('w1', 'lease');
    t.wait('w2', undefined);
    const started: string[] = [];
    t.startWaiting((ctx, mode) => started.push(`${ctx}:${mode}`));
    expect(started).toEqual(['w1:lease', 'w2:undefined']);
    t.request('r', 1, false);
    t.abandon();
    expect(t.roundPending).toBe(false);
    t.release(configs, 'a', () => 99);
    expect(t.takeStates()).toEqual([]);
  });
});

describe('chunked snapshots', () => {
  const data = Uint8Array.from({ length: 10 }, (_, i) => i);
  const snap = { index: 7, membership: m(['a']), extra: {}, data };

  it('streams in order, survives duplicates and losses, and hands over the whole snapshot once', () => {
    const pr = new Progress(1, false);
    pr.becomeSnapshot(7);
    const rx = new SnapshotReceiver<string>();
    const first = nextChunk(snap, pr, 4);
    expect(first).toMatchObject({ offset: 0, done: false, size: 10 });
    let a = rx.receive('7', 'meta', first);
    expect(a).toEqual({ next: 4, done: false, reject: false });
    // The same chunk again (a duplicate): the receiver says where it is.
    expect(rx.receive('7', 'meta', first)).toEqual({ next: 4, done: false, reject: false });
    expect(snapshotAnswered(pr, { index: 7, ...a })).toBe('next');
    const second = nextChunk(snap, pr, 4);
    a = rx.receive('7', 'meta', second);
    snapshotAnswered(pr, { index: 7, ...a });
    const last = nextChunk(snap, pr, 4);
    expect(last).toMatchObject({ offset: 8, done: true });
    const done = rx.receive('7', 'meta', last);
    expect(done).toMatchObject({ next: 10, done: true, complete: { meta: 'meta', data } });
    expect(snapshotAnswered(pr, { index: 7, next: 10, done: true, reject: false })).toBe('installed');
    expect(pr).toMatchObject({ state: 'probe', match: 7, next: 8 });
  });

  it('refuses a chunk of another snapshot midway, and one whose pieces do not add up to its size', () => {
    const rx = new SnapshotReceiver<string>();
    rx.receive('7', 'm', { offset: 0, data: data.subarray(0, 4), done: false, size: 10 });
    expect(rx.receive('8', 'm', { offset: 4, data: data.subarray(4, 8), done: false, size: 10 })).toMatchObject({ reject: true });
    const short = new SnapshotReceiver<string>();
    expect(short.receive('7', 'm', { offset: 0, data: data.subarray(0, 4), done: true, size: 10 })).toMatchObject({ reject: true, done: false });
  });
});

describe('replication messages of any engine', () => {
  const app = (prevIndex: number, n: number, extra: object = {}) => ({ to: 'b', prevIndex, entries: Array.from({ length: n }, () => ({ data: new Uint8Array(1) })), commit: prevIndex, ...extra });

  it('commit reach and merging', () => {
    expect(commitReach({ ...app(4, 2), commit: 9 })).toBe(6);
    expect(mergeAppends(app(0, 2), app(2, 1))).toMatchObject({ prevIndex: 0, commit: 2 });
    expect(mergeAppends(app(0, 2), app(2, 1))!.entries).toHaveLength(3);
    expect(mergeAppends(app(0, 2), app(3, 1))).toBeUndefined();
    expect(mergeAppends(app(0, 2), app(2, 0, { notice: true }))).toBeUndefined();
    expect(mergeAppends(app(0, 2), { ...app(2, 1), to: 'c' })).toBeUndefined();
  });
});

describe('the binary framing', () => {
  const TYPES = ['ping', 'pong'];

  it('round-trips every field kind', () => {
    const w = new WireWriter(9, 1, 'n1', 'node-2', 64);
    w.num(42);
    w.flag(true);
    w.id('', true);
    w.membership({ voters: ['a', 'b'], learners: ['c'] });
    w.bytes(Uint8Array.of(1, 2, 3));
    const r = new WireReader(w.finish(), 9, TYPES);
    expect([r.type, r.from, r.to]).toEqual(['pong', 'n1', 'node-2']);
    expect([r.num('n'), r.flag('f'), r.id('e', true), r.membership('m'), [...r.bytes('b')]]).toEqual([42, true, '', { voters: ['a', 'b'], learners: ['c'] }, [1, 2, 3]]);
    r.end();
  });

  it('refuses garbage with a typed error, never a crash (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        try {
          const r = new WireReader(bytes, 9, TYPES);
          r.num('x');
          r.membership('m');
          r.bytes('b');
          r.end();
        } catch (err) {
          expect(err).toBeInstanceOf(PeerMessageError);
        }
      }),
    );
  });

  it('names what is wrong', () => {
    expect(() => new WireReader(Uint8Array.of(8, 0), 9, TYPES)).toThrow(/format version 8; this replica reads version 9/);
    expect(() => new WireReader(Uint8Array.of(9, 5), 9, TYPES)).toThrow(/unknown type 5/);
    expect(() => new WireWriter(9, 0, 'a.b', 'c', 0)).toThrow(/node id "a.b" cannot be encoded/);
    const w = new WireWriter(9, 0, 'a', 'b', 16);
    w.num(2.5);
    expect(() => new WireReader(w.finish(), 9, TYPES).num('term')).toThrow(/term is 2.5, not a non-negative integer/);
  });
});
