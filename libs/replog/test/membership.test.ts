import { describe, expect, it } from 'vitest';
import { applyMembershipChange, sameMembership } from '../src/index.js';

describe('membership changes', () => {
  const m = { voters: ['a', 'b', 'c'], learners: [] };

  it('adds a learner, promotes it, removes a voter', () => {
    const withD = applyMembershipChange(m, { type: 'addLearner', node: 'd' });
    expect(withD).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    const promoted = applyMembershipChange(withD as typeof m, { type: 'promote', node: 'd' });
    expect(promoted).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(applyMembershipChange(promoted as typeof m, { type: 'remove', node: 'a' })).toEqual({ voters: ['b', 'c', 'd'], learners: [] });
  });

  it('refuses changes that make no sense', () => {
    expect(applyMembershipChange(m, { type: 'addLearner', node: 'a' })).toMatch(/already/);
    expect(applyMembershipChange(m, { type: 'promote', node: 'a' })).toMatch(/not a learner/);
    expect(applyMembershipChange(m, { type: 'remove', node: 'z' })).toMatch(/not a member/);
    expect(applyMembershipChange({ voters: ['a'], learners: [] }, { type: 'remove', node: 'a' })).toMatch(/last voter/);
  });

  it('compares memberships regardless of order', () => {
    expect(sameMembership({ voters: ['b', 'a'], learners: [] }, { voters: ['a', 'b'], learners: [] })).toBe(true);
    expect(sameMembership({ voters: ['a'], learners: ['b'] }, { voters: ['a', 'b'], learners: [] })).toBe(false);
  });
});
