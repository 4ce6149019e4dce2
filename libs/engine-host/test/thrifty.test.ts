import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { commitReach, mergeAppends, type ReplicationHints } from '@synod/replog';
import { systemClock, ThriftySender } from '../src/index.js';

/** Messages shaped as Raft's (the sender reads any engine's through its hints). */
type Entry = { index: number; term: number; type: 'normal'; data: Uint8Array };
type M =
  | { type: 'app'; from: string; to: string; term: number; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number; notice?: boolean }
  | { type: 'heartbeat'; from: string; to: string; term: number; commit: number; readRound: number }
  | { type: 'appResp'; from: string; to: string; term: number; index: number; reject: boolean; hint: number };
const hints: ReplicationHints<M> = {
  isAppend: (m) => m.type === 'app',
  appendEnd: (m) => (m.type === 'app' && m.entries.length > 0 ? m.prevIndex + m.entries.length : undefined),
  ackIndex: (m) => (m.type === 'appResp' && !m.reject ? m.index : undefined),
  commitReach: (m) => (m.type === 'app' ? commitReach(m) : undefined),
  isNotice: (m) => m.type === 'app' && m.notice === true,
  merge: (a, b) => (a.type === 'app' && b.type === 'app' && a.term === b.term ? mergeAppends(a, b) : undefined),
};
const entry = (index: number): Entry => ({ index, term: 1, type: 'normal', data: new Uint8Array(1) });
/** An append of `n` entries after `prevIndex`. */
const app = (to: string, prevIndex: number, n = 1): M =>
  ({ type: 'app', from: 'n1', to, term: 1, prevIndex, prevTerm: 1, entries: Array.from({ length: n }, (_, i) => entry(prevIndex + 1 + i)), commit: prevIndex }) as M;
const heartbeat = (to: string): M => ({ type: 'heartbeat', from: 'n1', to, term: 1, commit: 0, readRound: 1 }) as M;
const ack = (from: string, index: number, reject = false): M => ({ type: 'appResp', from, to: 'n1', term: 1, index, reject, hint: 0 }) as M;
const show = (m: M): string => `${m.type}>${m.to}${m.type === 'app' ? `@${m.prevIndex}${m.entries.length === 1 ? '' : `+${m.entries.length}`}` : ''}`;

const HOLD = 20;
const HEDGE = 2;

describe('ThriftySender: appends to followers a quorum does not need wait, boundedly', () => {
  let sent: string[][];
  let t: ThriftySender<M>;
  const make = (holdMs = HOLD) => new ThriftySender<M>({ out: (ms) => sent.push(ms.map(show)), hints, holdMs, hedgeMinMs: HEDGE, clock: { ...systemClock, now: () => Date.now() } });
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    t = make();
    t.configure(true, 'n1', ['n1', 'n2', 'n3']);
  });
  afterEach(() => {
    t.stop();
    vi.useRealTimers();
  });

  it('of three voters, sends to one follower at once and to the other after the hold, in one batch', () => {
    t.send([app('n2', 0), app('n3', 0)]);
    t.observe(ack('n2', 1));
    t.send([app('n2', 1), app('n3', 1)]);
    t.observe(ack('n2', 2));
    expect(sent).toEqual([['app>n2@0'], ['app>n2@1']]);
    vi.advanceTimersByTime(HOLD - 1);
    expect(sent.length).toBe(2);
    vi.advanceTimersByTime(1);
    // The held follower's two appends go as one message of both entries.
    expect(sent[2]).toEqual(['app>n3@0+2']);
    expect(t.stats).toEqual({ held: 2, flushed: 1, hedges: 0 });
  });

  it("keeps a held follower's appends in order (later ones, empty ones included, queue behind) and lets other messages pass", () => {
    t.send([app('n3', 0)]);
    t.send([heartbeat('n3')]);
    t.send([{ ...app('n3', 1), entries: [] } as M]);
    expect(sent).toEqual([['heartbeat>n3']]);
    vi.advanceTimersByTime(HOLD);
    expect(sent[1]).toEqual(['app>n3@0', 'app>n3@1+0']);
  });

  it('sends everything held at once when the quorum follower does not acknowledge within the hedge, then holds nothing for a while', () => {
    t.send([app('n2', 0), app('n3', 0)]);
    vi.advanceTimersByTime(HEDGE - 1);
    expect(sent).toEqual([['app>n2@0']]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([['app>n2@0'], ['app>n3@0']]);
    expect(t.stats.hedges).toBe(1);
    // Direct to every follower for 5 holds...
    t.send([app('n2', 1), app('n3', 1)]);
    expect(sent[2]).toEqual(['app>n2@1', 'app>n3@1']);
    vi.advanceTimersByTime(5 * HOLD);
    // ...then thrifty again, counting on n3 now: n2 was late and has not answered since.
    t.send([app('n2', 2), app('n3', 2)]);
    expect(sent[3]).toEqual(['app>n3@2']);
  });

  it('counts on a follower that made it hedge last, until that follower acknowledges again', () => {
    t.send([app('n2', 0), app('n3', 0)]);
    vi.advanceTimersByTime(HEDGE); // n2 is late: hedge
    t.observe(ack('n3', 1));
    vi.advanceTimersByTime(5 * HOLD);
    t.send([app('n2', 1), app('n3', 1)]);
    expect(sent[sent.length - 1]).toEqual(['app>n3@1']); // n3 is the one counted on now
    t.observe(ack('n2', 1));
    t.observe(ack('n3', 2));
    vi.advanceTimersByTime(HOLD);
    t.send([app('n2', 2), app('n3', 2)]);
    expect(sent[sent.length - 1]).toEqual(['app>n2@2']); // n2 answered: by id again
  });

  it('marks a follower counted on late when its append stays unanswered for a whole hold, even if its usual delay is long', () => {
    for (let i = 0; i < 30; i++) {
      t.send([app('n2', i)]);
      vi.advanceTimersByTime(10);
      t.observe(ack('n2', i + 1)); // usually 10 ms: the hedge waits 30 ms, longer than the hold
    }
    t.send([app('n2', 30), app('n3', 30)]);
    vi.advanceTimersByTime(HOLD); // the hold ends first, n2 silent all along
    expect(t.stats.hedges).toBe(0);
    t.send([app('n2', 31), app('n3', 31)]);
    expect(sent[sent.length - 1]).toEqual(['app>n3@31']);
  });

  it('does not hedge when the quorum follower acknowledges in time', () => {
    t.send([app('n2', 0), app('n3', 0)]);
    vi.advanceTimersByTime(1);
    t.observe(ack('n2', 1));
    vi.advanceTimersByTime(HOLD);
    expect(sent).toEqual([['app>n2@0'], ['app>n3@0']]);
    expect(t.stats.hedges).toBe(0);
  });

  it('counts a rejection as no acknowledgement', () => {
    t.send([app('n2', 0), app('n3', 0)]);
    t.observe(ack('n2', 0, true));
    vi.advanceTimersByTime(HEDGE);
    expect(t.stats.hedges).toBe(1);
  });

  it("waits longer before hedging when the follower's acknowledgements usually take longer (3x their average)", () => {
    for (let i = 0; i < 30; i++) {
      t.send([app('n2', i)]);
      vi.advanceTimersByTime(5);
      t.observe(ack('n2', i + 1));
    }
    expect(t.stats.hedges).toBe(0);
    t.send([app('n2', 30), app('n3', 30)]);
    vi.advanceTimersByTime(10);
    t.observe(ack('n2', 31));
    expect(t.stats.hedges).toBe(0);
  });

  it('of five voters, sends at once to two followers (a quorum with the leader) and holds the other two', () => {
    t.configure(true, 'n1', ['n1', 'n2', 'n3', 'n4', 'n5']);
    t.send(['n2', 'n3', 'n4', 'n5'].map((to) => app(to, 0)));
    expect(sent).toEqual([['app>n2@0', 'app>n3@0']]);
    t.observe(ack('n2', 1));
    t.observe(ack('n3', 1));
    vi.advanceTimersByTime(HOLD);
    expect(sent[1]).toEqual(['app>n4@0', 'app>n5@0']);
  });

  it('holds nothing with two voters, for a learner, or when not leading (and sends what it held on losing leadership)', () => {
    t.configure(true, 'n1', ['n1', 'n2']);
    t.send([app('n2', 0), app('n9', 0)]);
    expect(sent).toEqual([['app>n2@0', 'app>n9@0']]);
    t.configure(true, 'n1', ['n1', 'n2', 'n3']);
    t.send([app('n3', 1)]);
    expect(sent.length).toBe(1);
    t.configure(false, 'n1', ['n1', 'n2', 'n3']);
    expect(sent[1]).toEqual(['app>n3@1']);
    t.send([app('n3', 2)]);
    expect(sent[2]).toEqual(['app>n3@2']);
  });

  it('counts on a healthy follower: one silent for over a second is the one held', () => {
    vi.advanceTimersByTime(1001);
    t.observe(ack('n3', 0));
    t.send([app('n2', 0), app('n3', 0)]);
    expect(sent).toEqual([['app>n3@0']]);
  });

  it('sends every append at once with a hold of 0, and nothing after stop', () => {
    const off = make(0);
    off.configure(true, 'n1', ['n1', 'n2', 'n3']);
    off.send([app('n2', 0), app('n3', 0)]);
    expect(sent).toEqual([['app>n2@0', 'app>n3@0']]);
    t.send([app('n3', 0)]);
    t.stop();
    vi.advanceTimersByTime(HOLD * 10);
    expect(sent.length).toBe(1);
  });
});
