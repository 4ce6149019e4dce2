import { describe, expect, it } from 'vitest';
import { RaftNode } from '../src/index.js';
import { Cluster, figure8 } from './harness.js';

const enc = new TextEncoder();

describe('§5.2 leader election', () => {
  it('a follower that times out campaigns and wins with a majority', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.get('a').role).toBe('leader');
    expect(c.get('b').leader).toBe('a');
    expect(c.get('c').leader).toBe('a');
    expect(c.get('b').term).toBe(c.get('a').term);
  });

  it('randomized timeouts: left alone, exactly one leader per term emerges', () => {
    for (let seed = 0; seed < 20; seed++) {
      const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
      c.tickAll(40);
      const leaders = [...c.nodes.values()].filter((n) => n.node.role === 'leader');
      expect(leaders).toHaveLength(1);
      const term = leaders[0]!.node.term;
      for (const n of c.nodes.values()) expect(n.node.term).toBe(term);
    }
  });

  it('a node grants one vote per term', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    const b = c.get('b');
    b.step({ type: 'vote', from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    b.step({ type: 'vote', from: 'c', to: 'b', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    const rd = b.ready();
    b.advance();
    const answers = rd.messages.filter((m) => m.type === 'voteResp').map((m) => [m.to, (m as { reject: boolean }).reject]);
    expect(answers).toEqual([
      ['a', false],
      ['c', true],
    ]);
    expect(rd.meta).toMatchObject({ term: 1, vote: 'a' });
  });
});

describe('§5.3 log replication', () => {
  it('commits proposals on all nodes in the same order', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 20; i++) expect(c.propose('a', `x${i}`)).toMatchObject({ ok: true });
    c.tickAll(2);
    const expected = Array.from({ length: 20 }, (_, i) => `x${i}`);
    for (const id of ['a', 'b', 'c']) expect(c.appliedData(id)).toEqual(expected);
  });

  it('a follower refuses a proposal and names the leader', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.get('b').propose(enc.encode('x'))).toMatchObject({ ok: false, code: 'NOT_LEADER', leaderHint: 'a', retryable: true });
  });

  it('repairs a follower whose log diverged (conflicting suffix truncated)', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'common');
    c.isolate('a');
    // The isolated leader appends entries nobody else gets.
    for (let i = 0; i < 5; i++) c.get('a').propose(enc.encode(`lost${i}`));
    c.settle();
    c.recover();
    c.isolate('a');
    c.elect('b');
    c.propose('b', 'kept');
    c.recover();
    c.tickAll(5);
    for (const id of ['a', 'b', 'c']) expect(c.appliedData(id)).toEqual(['common', 'kept']);
    expect(c.get('a').role).toBe('follower');
  });
});

describe('§5.4 safety', () => {
  it('§5.4.1 a candidate with a stale log cannot win', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.elect('a');
    c.cutLink('a', 'c');
    c.propose('a', 'x');
    c.recover();
    // c missed the entry: its vote request is rejected by a and b.
    c.crash('a');
    c.tick('c', 30);
    expect(c.get('c').role).not.toBe('leader');
    c.elect('b');
    expect(c.get('b').role).toBe('leader');
  });

  it('§5.4.2 Figure 8: an entry of an earlier term is not committed by counting replicas', () => {
    const c = figure8();
    // The old entry sits on a, b and c (a majority) but must not be committed: e could still win
    // the next term with d's vote and overwrite it (Figure 8 (d)).
    expect(c.get('c').log.entry(2)?.term).toBe(c.get('b').log.entry(2)?.term);
    expect(c.get('a').log.entry(2)?.term).toBeLessThan(c.get('a').term);
    expect(c.get('a').log.committed).toBeLessThan(2);
    expect(c.appliedData('a')).toEqual([]);
    // (e) once an entry of the leader's own term is on a majority, both commit.
    c.rewrite = (m) => m;
    c.tickAll(3);
    expect(c.get('a').log.committed).toBeGreaterThanOrEqual(3);
    expect(c.appliedData('a')).toEqual(['old-term-entry']);
  });
});

describe('§6.2 CheckQuorum', () => {
  it('a leader partitioned into the minority steps down', () => {
    const c = new Cluster(['a', 'b', 'c', 'd', 'e']);
    c.elect('a');
    // a and b on one side, c, d, e on the other.
    for (const x of ['a', 'b']) {
      for (const y of ['c', 'd', 'e']) {
        c.cutLink(x, y);
        c.cutLink(y, x);
      }
    }
    // Within two election timeouts (one CheckQuorum round may still count old answers).
    c.tick('a', 10);
    c.tick('b', 10);
    c.tick('a', 10);
    expect(c.get('a').role).toBe('follower');
    c.elect('c');
    expect(c.get('c').role).toBe('leader');
    c.recover();
    c.tickAll(5);
    expect(c.leader()?.id).toBe('c');
  });
});

describe('§9.6 PreVote', () => {
  it('an isolated node does not raise its term, and does not disrupt the leader when it returns', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    const term = c.get('a').term;
    c.isolate('c');
    c.tick('c', 100);
    expect(c.get('c').term).toBe(term);
    c.recover();
    c.tickAll(20);
    expect(c.get('a').role).toBe('leader');
    expect(c.get('a').term).toBe(term);
  });

  it('without PreVote the returning node would disrupt the leader (the test can tell)', () => {
    const c = new Cluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    c.elect('a');
    const term = c.get('a').term;
    c.isolate('c');
    c.tick('c', 100);
    expect(c.get('c').term).toBeGreaterThan(term);
    c.recover();
    c.tickAll(20);
    expect(c.get('a').term).toBeGreaterThan(term);
  });
});

describe('§6.4 linearizable reads', () => {
  it('read-index is released after a quorum confirms leadership, at the commit index', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.isolate('a');
    expect(c.get('a').readIndex('r1')).toEqual({ ok: true });
    c.settle();
    expect(c.state('a').reads).toEqual([]);
    c.recover();
    c.tick('a');
    expect(c.state('a').reads).toEqual([{ ctx: 'r1', index: c.get('a').log.committed }]);
  });

  it('a read asked before the new leader committed its no-op waits for it', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.isolate('a');
    for (let i = 0; i < 100 && c.get('a').role !== 'pre-candidate'; i++) c.tick('a');
    c.recover();
    c.cutLink('b', 'a');
    c.cutLink('c', 'a');
    c.settle();
    c.recover();
    c.elect('a');
    expect(c.get('a').role).toBe('leader');
    expect(c.get('a').readIndex('r')).toEqual({ ok: true });
    c.settle();
    expect(c.state('a').reads.map((r) => r.ctx)).toEqual(['r']);
  });

  it('lease reads answer at once while the lease holds, and not after the quorum went silent', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.tickAll(2);
    const sent = c.delivered.length;
    c.get('a').readIndex('lease1', { mode: 'lease' });
    c.settle();
    expect(c.state('a').reads.map((r) => r.ctx)).toEqual(['lease1']);
    expect(c.delivered.length).toBe(sent);
    c.isolate('a');
    c.tick('a', 9);
    c.get('a').readIndex('lease2', { mode: 'lease' });
    c.settle();
    expect(c.state('a').reads.map((r) => r.ctx)).toEqual(['lease1']);
  });

  it('refuses reads on followers', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.get('b').readIndex('x')).toMatchObject({ ok: false, code: 'NOT_LEADER', leaderHint: 'a' });
  });
});

describe('§7 log compaction and InstallSnapshot', () => {
  it('a follower behind the compacted log catches up through a chunked snapshot', () => {
    const c = new Cluster(['a', 'b', 'c'], { snapshotChunkBytes: 10, snapshotTrailingEntries: 0 });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 10; i++) c.propose('a', `v${i}`);
    const a = c.get('a');
    const state = enc.encode(JSON.stringify(c.appliedData('a')));
    a.snapshotTaken(a.log.applied, state);
    expect(a.log.offset).toBe(a.log.applied);
    c.recover();
    c.tickAll(30);
    const chunks = c.delivered.filter((m) => m.type === 'snap' && m.to === 'c');
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(state.length / 10));
    const cState = c.state('c');
    expect(cState.storage.snapshot?.data).toEqual(state);
    expect(c.get('c').log.committed).toBe(a.log.committed);
    c.propose('a', 'after');
    c.tickAll(2);
    expect(c.appliedData('c')).toEqual(['after']);
  });

  it('a snapshot chunk lost in the network is resent', () => {
    const c = new Cluster(['a', 'b', 'c'], { snapshotChunkBytes: 8, snapshotTrailingEntries: 0 });
    c.elect('a');
    c.isolate('c');
    for (let i = 0; i < 5; i++) c.propose('a', `v${i}`);
    c.get('a').snapshotTaken(c.get('a').log.applied, enc.encode('0123456789abcdefghijklmnop'));
    c.recover();
    let dropped = 0;
    c.filter = (m) => !(m.type === 'snap' && m.offset === 8 && dropped++ < 2);
    c.tickAll(30);
    expect(dropped).toBeGreaterThanOrEqual(2);
    expect(c.state('c').storage.snapshot?.data).toEqual(enc.encode('0123456789abcdefghijklmnop'));
  });
});

describe('§4 membership changes', () => {
  it('a learner catches up, is promoted only when caught up, and a voter is removed', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    for (let i = 0; i < 5; i++) c.propose('a', `v${i}`);
    c.addNode('d');
    c.isolate('d');
    expect(c.get('a').proposeMembership({ type: 'addLearner', node: 'd' })).toMatchObject({ ok: true });
    c.settle();
    expect(c.get('a').proposeMembership({ type: 'promote', node: 'd' })).toMatchObject({ ok: false, code: 'NOT_CAUGHT_UP' });
    c.recover();
    c.tickAll(3);
    expect(c.get('d').role).toBe('learner');
    expect(c.appliedData('d')).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    expect(c.get('a').proposeMembership({ type: 'promote', node: 'd' })).toMatchObject({ ok: true });
    c.settle();
    c.tickAll(2);
    expect(c.get('a').membership.voters).toEqual(['a', 'b', 'c', 'd']);
    expect(c.get('d').role).toBe('follower');
    expect(c.get('a').proposeMembership({ type: 'remove', node: 'b' })).toMatchObject({ ok: true });
    expect(c.get('a').proposeMembership({ type: 'remove', node: 'c' })).toMatchObject({ ok: false, code: 'MEMBERSHIP_PENDING' });
    c.settle();
    c.tickAll(2);
    expect(c.get('d').membership.voters).toEqual(['a', 'c', 'd']);
  });

  it('a leader that removes itself steps down once the removal commits', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.get('a').proposeMembership({ type: 'remove', node: 'a' })).toMatchObject({ ok: true });
    c.settle();
    c.tickAll(2);
    expect(c.get('a').role).not.toBe('leader');
    c.tickAll(40);
    const leader = c.leader();
    expect(leader && ['b', 'c'].includes(leader.id)).toBe(true);
    expect(c.get('a').role).not.toBe('leader');
  });
});

describe('§3.10 leadership transfer', () => {
  it('hands leadership to a named voter, catching it up first', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.cutLink('a', 'c');
    c.propose('a', 'x');
    c.recover();
    expect(c.get('a').transferLeadership('c')).toEqual({ ok: true });
    c.settle();
    expect(c.get('c').role).toBe('leader');
    expect(c.get('a').role).toBe('follower');
    expect(c.appliedData('c')).toEqual(['x']);
  });

  it('refuses proposals while transferring', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.get('a').transferLeadership('c');
    expect(c.get('a').propose(enc.encode('x'))).toMatchObject({ ok: false, code: 'TRANSFERRING', retryable: true });
    c.tick('a', 11);
    expect(c.get('a').propose(enc.encode('x'))).toMatchObject({ ok: true });
  });
});

describe('flow control', () => {
  it('bounds messages in flight to a follower that does not answer', () => {
    const c = new Cluster(['a', 'b', 'c'], { maxInflightMsgs: 4, maxMsgBytes: 1 });
    c.elect('a');
    c.filter = (m) => !(m.type === 'appResp' && m.from === 'c');
    const before = c.delivered.filter((m) => m.type === 'app' && m.to === 'c').length;
    for (let i = 0; i < 20; i++) c.propose('a', `x${i}`);
    const sent = c.delivered.filter((m) => m.type === 'app' && m.to === 'c').length - before;
    expect(sent).toBe(4);
    c.recover();
  });

  it('refuses proposals beyond the uncommitted bound with a retryable error, and recovers', () => {
    const c = new Cluster(['a', 'b', 'c'], { maxUncommittedBytes: 1000 });
    c.elect('a');
    c.isolate('a');
    const results = Array.from({ length: 20 }, () => c.get('a').propose(new Uint8Array(100)));
    expect(results.filter((r) => r.ok).length).toBeLessThan(20);
    expect(results.find((r) => !r.ok)).toMatchObject({ code: 'OVERLOADED', retryable: true });
    c.settle();
    c.recover();
    c.tickAll(3);
    expect(c.get('a').propose(new Uint8Array(100))).toMatchObject({ ok: true });
  });
});

describe('restart from durable state', () => {
  it('keeps term, vote and log across a crash; only persisted state survives', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.tickAll(2);
    const term = c.get('b').term;
    c.crash('b');
    c.restart('b');
    const b = c.get('b');
    expect(b.term).toBe(term);
    expect(b.log.lastIndex()).toBe(c.get('a').log.lastIndex());
    c.tickAll(3);
    expect(c.appliedData('b')).toEqual(['x']);
  });

  it('the node refuses to run between ready() and advance()', () => {
    const n = new RaftNode({ id: 'a', initialMembership: { voters: ['a'], learners: [] }, random: () => 0.5 });
    n.tick();
    n.ready();
    expect(() => n.tick()).toThrow(/advance/);
  });
});
