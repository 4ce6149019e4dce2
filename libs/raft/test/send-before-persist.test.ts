import { describe, expect, it } from 'vitest';
import { simulate } from '@synod/testkit';
import { RaftNode, raftEngine, raftSimEngine, type RaftMessage, type RaftReady } from '../src/index.js';
import { Cluster } from './harness.js';

const enc = new TextEncoder();

/** Carries out Readies until the node has none, as a driver whose disk never fails would. */
function drain(n: RaftNode): RaftReady[] {
  const out: RaftReady[] = [];
  for (let i = 0; i < 100 && n.hasReady(); i++) {
    out.push(n.ready());
    n.advance();
  }
  return out;
}

/** Three nodes with `a` elected, and one entry `a` has proposed but not yet handed to a Ready. */
function leaderWithProposal() {
  const c = new Cluster(['a', 'b', 'c']);
  c.elect('a');
  const a = c.get('a');
  const { index } = a.propose(enc.encode('x')) as { index: number };
  return { c, a, term: a.term, index };
}

/** A single voter (with optional learners) that has elected itself and settled. */
function soloLeader(learners: string[] = []): { n: RaftNode; readies: RaftReady[] } {
  const n = new RaftNode({ id: 'a', initialMembership: { voters: ['a'], learners }, random: () => 0.5 });
  const readies: RaftReady[] = [];
  for (let i = 0; i < 40 && n.role !== 'leader'; i++) {
    n.tick();
    readies.push(...drain(n));
  }
  expect(n.role).toBe('leader');
  readies.push(...drain(n));
  return { n, readies };
}

const ack = (from: string, to: string, term: number, index: number): RaftMessage => ({ type: 'appResp', from, to, term, index, reject: false, hint: 0 });

describe('sendBeforePersist: a leader replicates while it persists (dissertation §10.2.1)', () => {
  it("puts the leader's appends in sendBeforePersist and everything a follower promises in messages", () => {
    const { c, a, index } = leaderWithProposal();
    const rd = a.ready();
    expect(rd.records.map((e) => e.index)).toEqual([index]);
    const early = rd.sendBeforePersist ?? [];
    expect(early.map((m) => [m.type, m.to]).sort()).toEqual([
      ['app', 'b'],
      ['app', 'c'],
    ]);
    for (const m of early) expect(m.type === 'app' && m.entries.map((e) => e.index)).toEqual([index]);
    expect(rd.messages.filter((m) => m.type === 'app')).toEqual([]);
    a.advance();
    // The follower's answer promises its disk: it waits for its persist.
    const b = c.get('b');
    b.step(early.find((m) => m.to === 'b')!);
    const rb = b.ready();
    expect(rb.records.map((e) => e.index)).toEqual([index]);
    expect(rb.sendBeforePersist).toBeUndefined();
    expect(rb.messages.map((m) => m.type)).toEqual(['appResp']);
    b.advance();
  });

  it('the leader counts itself only for entries durable on its disk: one follower ack is not a quorum of 3 before the leader persisted', () => {
    const { a, term, index } = leaderWithProposal();
    // Acknowledgements arriving while the leader has yet to persist the entry (a driver that steps
    // peer messages during the leader's fsync would present them so).
    a.step(ack('b', 'a', term, index));
    expect(a.log.committed).toBeLessThan(index);
    expect(a.status().progress!['a']!.match).toBeLessThan(index);
    // Two followers hold it durably: 2 of 3 is a quorum without the leader.
    a.step(ack('c', 'a', term, index));
    expect(a.log.committed).toBe(index);
  });

  it("with one follower's ack, the entry commits once the leader's own persist is advanced", () => {
    const { a, term, index } = leaderWithProposal();
    a.step(ack('b', 'a', term, index));
    expect(a.log.committed).toBeLessThan(index);
    const rd = a.ready();
    expect(rd.committed.map((e) => e.index)).not.toContain(index);
    a.advance();
    // Durable here and on b: committed, and b and c hear the new commit index at once.
    expect(a.log.committed).toBe(index);
    const next = a.ready();
    expect(next.committed.map((e) => e.index)).toEqual([index]);
    const notices = (next.sendBeforePersist ?? []).filter((m) => m.type === 'app' && m.commit === index);
    expect(notices.map((m) => m.to)).toContain('b');
    a.advance();
  });

  it('a follower applies a commit notice without answering it, and answers one that does not match its log', () => {
    const { c, a, index } = leaderWithProposal();
    const b = c.get('b');
    const append = drain(a).flatMap((rd) => [...(rd.sendBeforePersist ?? []), ...rd.messages]).find((m) => m.type === 'app' && m.to === 'b')!;
    b.step(append);
    const acks = drain(b).flatMap((rd) => rd.messages);
    expect(acks.map((m) => m.type)).toEqual(['appResp']);
    a.step(acks[0]!);
    const notice = drain(a).flatMap((rd) => rd.sendBeforePersist ?? []).find((m): m is RaftMessage & { type: 'app' } => m.type === 'app' && m.to === 'b')!;
    expect(notice).toMatchObject({ entries: [], commit: index, notice: true, prevIndex: index });
    b.step(notice);
    const after = drain(b);
    expect(after.flatMap((rd) => rd.committed).map((e) => e.index)).toContain(index);
    expect(after.flatMap((rd) => [...(rd.sendBeforePersist ?? []), ...rd.messages])).toEqual([]);
    // A notice at an index b does not hold (it cannot happen with a correct leader) is refused aloud.
    b.step({ ...notice, prevIndex: index + 5, prevTerm: notice.term, commit: index + 5 });
    const refusals = drain(b).flatMap((rd) => rd.messages);
    expect(refusals).toMatchObject([{ type: 'appResp', to: 'a', reject: true }]);
  });

  it('a single voter commits its proposal after the persist is advanced, not before', () => {
    const { n } = soloLeader();
    const { index } = n.propose(enc.encode('x')) as { index: number };
    expect(n.log.committed).toBeLessThan(index);
    const rd = n.ready();
    expect(rd.records.map((e) => e.index)).toEqual([index]);
    expect(rd.committed.map((e) => e.index)).not.toContain(index);
    n.advance();
    expect(n.log.committed).toBe(index);
    const next = n.ready();
    expect(next.records).toEqual([]);
    expect(next.committed.map((e) => e.index)).toEqual([index]);
    n.advance();
    expect(n.status().appliedIndex).toBe(index);
  });

  it('a leader whose term is not durable yet sends nothing before persisting (a single voter that just elected itself)', () => {
    const { readies, n } = soloLeader(['l']);
    const first = readies.find((rd) => rd.softState?.role === 'leader')!;
    expect(first.meta).toMatchObject({ term: n.term, vote: 'a' });
    expect(first.sendBeforePersist).toBeUndefined();
    expect(first.messages.some((m) => m.type === 'app' && m.to === 'l')).toBe(true);
    // The learner answers the probe; once the term is durable, appends to it go before the persist.
    n.step(ack('l', 'a', n.term, n.log.lastIndex()));
    drain(n);
    n.propose(enc.encode('x'));
    const rd = n.ready();
    expect(rd.meta).toBeUndefined();
    expect((rd.sendBeforePersist ?? []).map((m) => [m.type, m.to])).toEqual([['app', 'l']]);
    n.advance();
  });

  it('heartbeats (and the read-index round they carry) go before the persist, vote answers after', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const a = c.get('a');
    a.readIndex('r1');
    // A stale vote request of the current term: the leader refuses it (a promise: after persist).
    a.step({ type: 'vote', from: 'c', to: 'a', term: a.term, lastIndex: 0, lastTerm: 0, transfer: false });
    const rd = a.ready();
    expect((rd.sendBeforePersist ?? []).filter((m) => m.type === 'heartbeat').map((m) => m.to).sort()).toEqual(['b', 'c']);
    expect(rd.messages.map((m) => m.type)).toEqual(['voteResp']);
    a.advance();
  });
});

/** Sends everything before persisting: votes and acks too. Unsafe; the simulator must notice. */
class SendsPromisesEarly extends RaftNode {
  override ready(): RaftReady {
    const rd = super.ready();
    return { ...rd, sendBeforePersist: [...(rd.sendBeforePersist ?? []), ...rd.messages], messages: [] };
  }
}

describe('sendBeforePersist, abused, is caught by the simulator', () => {
  it('a node that sends votes and acks before persisting them fails within 120 seeds', async () => {
    let failure: string | undefined;
    for (let seed = 1; seed <= 120 && failure === undefined; seed++) {
      const r = await simulate({ ...raftEngine, sim: raftSimEngine({}, (o, d) => new SendsPromisesEarly(o, d)) }, { seed, ops: 500 });
      if (!r.ok) failure = `seed ${seed}: ${r.failure}`;
    }
    expect(failure).toMatch(/election safety|leader completeness|state machine safety|log matching|not linearizable|conflict at committed index/);
  }, 300_000);
});
