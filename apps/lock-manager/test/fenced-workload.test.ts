import { describe, expect, it } from 'vitest';
import { FencedResource, fencedViolations } from '@synod/cluster-kit';

/** The checker of the safety test and chaos:locks finds each kind of violation. */
describe('fencedViolations', () => {
  it('passes a clean history', () => {
    const r = new FencedResource();
    for (const t of [3, 5, 9]) {
      expect(r.begin(t)).toBe(true);
      expect(r.commit(t)).toBe(true);
    }
    expect(r.begin(4)).toBe(false);
    expect(fencedViolations(r, [3, 5, 9, 4])).toEqual([]);
  });

  it('refuses a paused holder: a commit after a higher token began', () => {
    const r = new FencedResource();
    r.begin(3);
    r.begin(5);
    expect(r.commit(3)).toBe(false);
    expect(r.commit(5)).toBe(true);
    expect(fencedViolations(r)).toEqual([]);
  });

  it('reports interleaved sections, non-increasing tokens, a wrong counter, a stale token accepted, a token granted twice', () => {
    const r = new FencedResource();
    r.accepted.push({ token: 5, begin: 0, end: 10 }, { token: 4, begin: 5, end: 12 });
    r.acceptedBegins.push(5, 4);
    r.rejectedCommits.push(4);
    r.counter = 3;
    const v = fencedViolations(r, [4, 5, 5]);
    expect(v).toContain('counter 3 != 2 accepted commits');
    expect(v).toContain('committed sections interleave: token 4 began before token 5 committed');
    expect(v).toContain('tokens not strictly increasing: 5 then 4');
    expect(v).toContain('accepted begins not strictly increasing: 5 then 4');
    expect(v).toContain('stale token 4 was refused once and accepted another time');
    expect(v).toContain('1 fencing tokens granted twice');
  });
});
