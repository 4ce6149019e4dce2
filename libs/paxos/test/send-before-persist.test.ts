import { describe, expect, it } from 'vitest';
import type { PaxosMessage } from '../src/types.js';
import { Cluster } from './harness.js';

const enc = new TextEncoder();

describe('sendBeforePersist: the leader replicates while it persists', () => {
  it("puts the leader's accepts in sendBeforePersist; acceptors' answers wait for their persist", () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.settle();
    const a = c.get('a');
    const r = a.propose(enc.encode('x'));
    expect(r.ok).toBe(true);
    const index = (r as { index: number }).index;
    const rd = a.ready();
    expect(rd.records.map((s) => s.index)).toEqual([index]);
    const early = rd.sendBeforePersist ?? [];
    expect(early.map((m) => [m.type, m.to]).sort()).toEqual([
      ['accept', 'b'],
      ['accept', 'c'],
    ]);
    expect(rd.messages.filter((m) => m.type === 'accept')).toEqual([]);
    a.advance();
    const b = c.get('b');
    b.step(early.find((m) => m.to === 'b')!);
    const rb = b.ready();
    expect(rb.sendBeforePersist).toBeUndefined();
    expect(rb.messages.map((m) => m.type)).toEqual(['acceptResp']);
    b.advance();
  });

  it('an acceptor learns from a chosen notice without answering it; a notice past its prefix is refused', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.settle();
    const a = c.get('a');
    const b = c.get('b');
    const index = (a.propose(enc.encode('x')) as { index: number }).index;
    const rd = a.ready();
    a.advance();
    b.step((rd.sendBeforePersist ?? []).find((m) => m.to === 'b')!);
    const rb = b.ready();
    b.advance();
    a.step(rb.messages.find((m) => m.type === 'acceptResp')!);
    const ra = a.ready();
    a.advance();
    const notice = (ra.sendBeforePersist ?? []).find((m): m is PaxosMessage & { type: 'accept' } => m.type === 'accept' && m.to === 'b')!;
    expect(notice).toMatchObject({ entries: [], commit: index, notice: true });
    b.step(notice);
    const after = b.ready();
    b.advance();
    expect(after.committed.map((e) => e.index)).toContain(index);
    expect([...(after.sendBeforePersist ?? []), ...after.messages]).toEqual([]);
    b.step({ ...notice, prevIndex: index + 5, commit: index + 5 });
    const refused = b.ready();
    b.advance();
    expect(refused.messages).toMatchObject([{ type: 'acceptResp', to: 'a', reject: true }]);
  });

  it('the leader counts its own acceptance only once durable: one acceptor is not a majority of 3 before that', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.settle();
    const a = c.get('a');
    const index = (a.propose(enc.encode('x')) as { index: number }).index;
    const ack = (from: string): PaxosMessage => ({ type: 'acceptResp', from, to: 'a', ballot: a.ballot, reject: false, index, promised: a.ballot });
    a.step(ack('b'));
    expect(a.status().commitIndex).toBeLessThan(index);
    // Durable here too: chosen at advance, and the next Ready applies it.
    a.ready();
    a.advance();
    expect(a.status().commitIndex).toBe(index);
    expect(a.ready().committed.map((e) => e.index)).toEqual([index]);
    a.advance();
  });

  it('two acceptors other than the leader are a majority without it', () => {
    const c = new Cluster(['a', 'b', 'c']);
    c.elect('a');
    c.settle();
    const a = c.get('a');
    const index = (a.propose(enc.encode('x')) as { index: number }).index;
    for (const from of ['b', 'c']) a.step({ type: 'acceptResp', from, to: 'a', ballot: a.ballot, reject: false, index, promised: a.ballot });
    expect(a.status().commitIndex).toBe(index);
  });

  it('a single acceptor chooses its proposal after the persist is advanced', () => {
    const c = new Cluster(['a']);
    c.elect('a');
    c.settle();
    const a = c.get('a');
    const index = (a.propose(enc.encode('x')) as { index: number }).index;
    expect(a.status().commitIndex).toBeLessThan(index);
    c.settle();
    expect(a.status().commitIndex).toBe(index);
    expect(c.commands('a')).toEqual(['x']);
  });
});
