import { describe, expect, it } from 'vitest';
import { compareBallots, decodeMeta, decodeSlot, encodeMeta, encodeSlot, PaxosNode } from '../src/index.js';
import { Cluster, slot } from './harness.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('ballots', () => {
  it('are ordered by round, then node id', () => {
    expect(compareBallots({ round: 2, node: 'a' }, { round: 1, node: 'z' })).toBeGreaterThan(0);
    expect(compareBallots({ round: 2, node: 'a' }, { round: 2, node: 'b' })).toBeLessThan(0);
    expect(compareBallots({ round: 2, node: 'b' }, { round: 2, node: 'b' })).toBe(0);
  });
});

describe('Multi-Paxos on a hand-driven cluster', () => {
  it('a leader runs phase 1 once, then chooses proposals in order on every replica', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const epoch = c.get('a').status().epoch;
    for (const v of ['x', 'y', 'z']) expect(c.get('a').propose(enc.encode(v))).toMatchObject({ ok: true });
    c.settle();
    c.tickAll(2);
    for (const id of c.ids) expect(c.commands(id)).toEqual(['x', 'y', 'z']);
    // No further phase 1: the epoch (ballot round) did not move.
    expect(c.get('a').status().epoch).toBe(epoch);
    expect(c.get('b').status().leader).toBe('a');
  });

  it('phase 1 adopts the value accepted at the highest ballot and fills gaps with no-ops', () => {
    // Five acceptors; a campaigns cut off from everyone, and the promises of b and c are handed to
    // it: b accepted X at slot 1 with ballot 1.b; c accepted Y there with the higher ballot 2.c, and
    // Z at slot 3 with nothing reported at 2.
    const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
    for (const id of ['b', 'c', 'd', 'e']) c.isolate(id);
    c.get('a').step({ type: 'timeoutNow', from: 'b', to: 'a', ballot: { round: 0, node: '' } });
    const a = c.get('a');
    expect(a.role).toBe('candidate');
    const promise = (from: string, entries: ReturnType<typeof slot>[]) =>
      a.step({ type: 'promise', from, to: 'a', ballot: a.ballot, reject: false, behind: false, promised: a.ballot, commit: 0, fromSlot: 1, entries, done: true });
    promise('b', [slot(1, 1, 'b', 'X')]);
    expect(a.role).toBe('candidate');
    promise('c', [slot(1, 2, 'c', 'Y'), slot(3, 2, 'c', 'Z')]);
    expect(a.role).toBe('leader');
    const log = [1, 2, 3].map((i) => a.log.entry(i)!).map((e) => [e.index, e.kind, dec.decode(e.data), e.ballot.round]);
    expect(log).toEqual([
      [1, 'command', 'Y', a.ballot.round],
      [2, 'noop', '', a.ballot.round],
      [3, 'command', 'Z', a.ballot.round],
    ]);
    // Reads and membership changes wait until what phase 1 re-proposed is chosen.
    expect(a.proposeMembership({ type: 'remove', node: 'e' })).toMatchObject({ ok: false, code: 'NOT_READY' });
  });

  it('an acceptor refuses a ballot of the round it promised from another node: one leader per round', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const round = c.get('a').ballot.round;
    c.get('b').step({ type: 'prepare', from: 'c', to: 'b', ballot: { round, node: 'c' }, fromSlot: 1, commit: 0, transfer: true });
    c.flush();
    const answer = c.queue.find((m) => m.type === 'promise' && m.to === 'c');
    expect(answer).toMatchObject({ reject: true, promised: { round, node: 'a' } });
  });

  it('a retransmitted proposal gets the slot of its unchosen first copy', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const first = c.get('a').propose(enc.encode('same'));
    const again = c.get('a').propose(enc.encode('same'));
    expect(first).toMatchObject({ ok: true });
    expect(again).toEqual(first);
    c.settle();
    c.tickAll(1);
    expect(c.commands('b')).toEqual(['same']);
  });

  it('refuses proposals with OVERLOADED beyond the unchosen-bytes bound', () => {
    const c = new Cluster(['a', 'b', 'c'], { maxUncommittedBytes: 2000 });
    c.elect('a');
    c.isolate('b');
    c.isolate('c');
    const results = Array.from({ length: 20 }, (_, i) => c.get('a').propose(new Uint8Array(200).fill(i)));
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.code)).toContain('OVERLOADED');
    expect(results.filter((r) => r.ok).length).toBeLessThan(20);
  });

  it('a preempted leader learns of the higher ballot and steps down; the value it had chosen survives', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc.encode('kept'));
    c.settle();
    c.isolate('a');
    // c stops hearing from a: after an election timeout it no longer refuses other proposers.
    c.tick('c', 10);
    c.elect('b');
    c.heal();
    c.get('b').propose(enc.encode('next'));
    c.settle();
    c.tickAll(2);
    expect(c.get('a').role).toBe('follower');
    for (const id of c.ids) expect(c.commands(id)).toEqual(['kept', 'next']);
  });

  it('hands leadership to a named replica', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc.encode('v'));
    c.settle();
    expect(c.get('a').transferLeadership('c')).toEqual({ ok: true });
    c.settle();
    expect(c.get('c').role).toBe('leader');
    expect(c.get('a').role).toBe('follower');
    c.get('c').propose(enc.encode('w'));
    c.settle();
    c.tickAll(2);
    expect(c.commands('a')).toEqual(['v', 'w']);
  });

  it('read-index waits for a quorum round; a leader cut off serves no lease read', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.tickAll(2);
    c.get('a').readIndex('r1');
    c.settle();
    expect(c.state('a').reads.map((r) => r.ctx)).toContain('r1');
    c.isolate('a');
    c.tick('a', 9);
    c.get('a').readIndex('late', { mode: 'lease' });
    c.settle();
    expect(c.state('a').reads.map((r) => r.ctx)).not.toContain('late');
  });

  it('a membership change decides slots α later: a learner joins, is promoted, counts in quorums', () => {
    const c = new Cluster(['a', 'b', 'c'], { window: 4 });
    c.elect('a');
    c.get('a').propose(enc.encode('before'));
    c.settle();
    c.start('d');
    expect(c.get('a').proposeMembership({ type: 'addLearner', node: 'd' })).toMatchObject({ ok: true });
    expect(c.get('a').proposeMembership({ type: 'remove', node: 'b' })).toMatchObject({ ok: false, code: 'MEMBERSHIP_PENDING' });
    c.settle();
    c.tickAll(3);
    expect(c.get('a').status().membership).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(c.get('d').role).toBe('learner');
    expect(c.commands('d')).toEqual(['before']);
    expect(c.get('a').proposeMembership({ type: 'promote', node: 'd' })).toMatchObject({ ok: true });
    c.settle();
    c.tickAll(3);
    expect(c.get('a').status().membership.voters).toEqual(['a', 'b', 'c', 'd']);
    // Four voters: with b and c cut off, a and d are no majority.
    c.isolate('b');
    c.isolate('c');
    c.get('a').propose(enc.encode('needs-three'));
    c.settle();
    expect(c.commands('d')).not.toContain('needs-three');
    c.heal();
    c.tickAll(3);
    expect(c.commands('d')).toContain('needs-three');
  });

  it('a lagging replica catches up by snapshot after the leader compacted', () => {
    const c = new Cluster(['a', 'b', 'c'], { snapshotTrailingEntries: 2 });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 10; i++) c.get('a').propose(enc.encode(`v${i}`));
    c.settle();
    const applied = c.get('a').status().appliedIndex;
    c.get('a').snapshotTaken(applied, enc.encode('state'));
    c.heal();
    c.tickAll(3);
    expect(c.state('c').durable.snapshot?.index).toBe(applied);
    expect(c.get('c').status().commitIndex).toBeGreaterThanOrEqual(applied);
  });

  it('a restarted acceptor keeps its promise and its accepted values', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.get('a').propose(enc.encode('durable'));
    c.settle();
    const promised = c.get('b').promised;
    const b = c.restart('b');
    expect(b.promised).toEqual(promised);
    expect(b.log.entry(b.log.lastIndex())?.data).toEqual(enc.encode('durable'));
  });
});

describe('record codec', () => {
  it('round-trips accepted values and meta', () => {
    const s = { ...slot(7, 3, 'n2', 'hello'), membership: { voters: ['n1'], learners: ['n2'] }, kind: 'membership' as const };
    expect(decodeSlot(encodeSlot(s))).toEqual(s);
    const m = { promised: { round: 9, node: 'n3' }, commit: 41 };
    expect(decodeMeta(encodeMeta(m))).toEqual(m);
    expect(() => decodeSlot(new Uint8Array(5))).toThrow(/too short/);
  });

  it('the engine rejects a gap on restore', () => {
    expect(() => new PaxosNode({ id: 'a', initialMembership: { voters: ['a'], learners: [] }, random: () => 0.5 }, { records: [slot(2, 1, 'a', 'x')] })).toThrow(/gap/);
  });
});
