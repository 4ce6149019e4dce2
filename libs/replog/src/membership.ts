import type { Membership, MembershipChange, NodeId } from './engine.js';

/** True if `a` and `b` list the same members. */
export function sameMembership(a: Membership, b: Membership): boolean {
  const same = (x: NodeId[], y: NodeId[]) => x.length === y.length && [...x].sort().every((v, i) => v === [...y].sort()[i]);
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}

/** The membership after `change`, or an error message when the change makes no sense. */
export function applyMembershipChange(m: Membership, change: MembershipChange): Membership | string {
  const voters = new Set(m.voters);
  const learners = new Set(m.learners);
  switch (change.type) {
    case 'addLearner':
      if (voters.has(change.node) || learners.has(change.node)) return `${change.node} is already a member`;
      learners.add(change.node);
      break;
    case 'promote':
      if (!learners.has(change.node)) return `${change.node} is not a learner`;
      learners.delete(change.node);
      voters.add(change.node);
      break;
    case 'remove':
      if (!voters.has(change.node) && !learners.has(change.node)) return `${change.node} is not a member`;
      if (voters.has(change.node) && voters.size === 1) return 'cannot remove the last voter';
      voters.delete(change.node);
      learners.delete(change.node);
      break;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}
