import { commitReach, mergeAppends, type ReplicationHints } from '@synod/replog';
import type { RaftMessage } from './types.js';

/** How a driver reads Raft's replication traffic: appends (`app`) and their acknowledgements. */
export const raftHints: ReplicationHints<RaftMessage> = {
  isAppend: (m) => m.type === 'app',
  appendEnd: (m) => (m.type === 'app' && m.entries.length > 0 ? m.prevIndex + m.entries.length : undefined),
  ackIndex: (m) => (m.type === 'appResp' && !m.reject ? m.index : undefined),
  commitReach: (m) => (m.type === 'app' ? commitReach(m) : undefined),
  isNotice: (m) => m.type === 'app' && m.notice === true,
  merge: (a, b) => (a.type === 'app' && b.type === 'app' && a.term === b.term ? mergeAppends(a, b) : undefined),
};
