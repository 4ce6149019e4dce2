import { commitReach, mergeAppends, type ReplicationHints } from '@synod/replog';
import { sameBallot, type PaxosMessage } from './types.js';

/** How a driver reads Multi-Paxos's replication traffic: phase-2 accepts and their answers. */
export const paxosHints: ReplicationHints<PaxosMessage> = {
  isAppend: (m) => m.type === 'accept',
  appendEnd: (m) => (m.type === 'accept' && m.entries.length > 0 ? m.prevIndex + m.entries.length : undefined),
  ackIndex: (m) => (m.type === 'acceptResp' && !m.reject ? m.index : undefined),
  commitReach: (m) => (m.type === 'accept' ? commitReach(m) : undefined),
  isNotice: (m) => m.type === 'accept' && m.notice === true,
  merge: (a, b) => (a.type === 'accept' && b.type === 'accept' && sameBallot(a.ballot, b.ballot) ? mergeAppends(a, b) : undefined),
};
