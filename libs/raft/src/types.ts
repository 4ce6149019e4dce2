import type { Membership, NodeId, Snapshot } from '@synod/replog';

export type EntryType = 'normal' | 'noop' | 'membership';

/** One log entry. `data` of a membership entry is the JSON of the MembershipChange. */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
  /** For membership entries: the configuration this entry establishes (in force once appended). */
  membership?: Membership;
}

/** What must survive a restart besides the log: Raft's Figure 2 persistent state, plus commit. */
export interface HardState {
  term: number;
  vote: NodeId | undefined;
  commit: number;
}

/** Raft's snapshot metadata beyond the engine-neutral fields: the term of the last included entry. */
export interface RaftSnapshotExtra {
  term: number;
}

export type RaftSnapshot = Snapshot<RaftSnapshotExtra>;

interface Base {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** AppendEntries (§5.3): `entries` follow (prevIndex, prevTerm); `commit` is the leader's commit. */
export interface AppendMsg extends Base {
  type: 'app';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
  /**
   * A commit notice (see `broadcastCommit`): empty, at the follower's match index. A follower that
   * accepts it does not answer (the leader learns nothing from the answer); a refusal is answered.
   */
  notice?: boolean;
}

/**
 * The answer to AppendEntries. On success `index` is the last index now known to match. On a
 * rejection `index` is the prevIndex that did not match and `hint` the follower's last index, so
 * the leader can skip back more than one entry at a time.
 */
export interface AppendRespMsg extends Base {
  type: 'appResp';
  index: number;
  reject: boolean;
  hint: number;
}

/** RequestVote (§5.2) and PreVote (§9.6). `transfer` marks a campaign after TimeoutNow. */
export interface VoteMsg extends Base {
  type: 'vote' | 'preVote';
  lastIndex: number;
  lastTerm: number;
  transfer: boolean;
}

export interface VoteRespMsg extends Base {
  type: 'voteResp' | 'preVoteResp';
  reject: boolean;
}

/** Heartbeat: carries commit (capped at what the follower has) and a read-index round number. */
export interface HeartbeatMsg extends Base {
  type: 'heartbeat';
  commit: number;
  readRound: number;
}

export interface HeartbeatRespMsg extends Base {
  type: 'heartbeatResp';
  readRound: number;
}

/**
 * InstallSnapshot (§7), in chunks so each message stays below the transport's size bound. The
 * follower accepts chunks only in order; `offset` is where `data` starts in the snapshot.
 */
export interface SnapshotMsg extends Base {
  type: 'snap';
  snapshot: { index: number; term: number; membership: Membership; size: number };
  offset: number;
  data: Uint8Array;
  done: boolean;
}

/** Acknowledges snapshot chunks: `next` is the offset expected next; `reject` restarts the transfer. */
export interface SnapshotRespMsg extends Base {
  type: 'snapResp';
  index: number;
  next: number;
  reject: boolean;
  done: boolean;
}

/** Leadership transfer (§3.10 of the dissertation): start an election now. */
export interface TimeoutNowMsg extends Base {
  type: 'timeoutNow';
}

export type RaftMessage =
  | AppendMsg
  | AppendRespMsg
  | VoteMsg
  | VoteRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapshotMsg
  | SnapshotRespMsg
  | TimeoutNowMsg;

export interface RaftOptions {
  id: NodeId;
  /** Voters when the node starts with no durable state (bootstrap); ignored once state exists. */
  initialMembership: Membership;
  /** Source of uniform numbers in [0, 1) for randomized election timeouts. */
  random: () => number;
  /** Ticks between heartbeats. */
  heartbeatTicks?: number;
  /** Ticks without hearing from a leader before campaigning; randomized in [n, 2n). */
  electionTicks?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Largest total entry data per AppendEntries message, in bytes. */
  maxMsgBytes?: number;
  /** Most AppendEntries in flight per follower. */
  maxInflightMsgs?: number;
  /** Most entry bytes in flight per follower. */
  maxInflightBytes?: number;
  /** Proposals beyond this many uncommitted entry bytes are refused with OVERLOADED. */
  maxUncommittedBytes?: number;
  /** Size of one InstallSnapshot chunk, in bytes. */
  snapshotChunkBytes?: number;
  /** Entries kept below a snapshot so slightly lagging followers need no snapshot. */
  snapshotTrailingEntries?: number;
  /**
   * Ticks of clock drift the leader lease allows for. A lease read is served only while the leader
   * heard from a quorum within `electionTicks - leaseDriftTicks` ticks.
   */
  leaseDriftTicks?: number;
}

export const DEFAULTS = {
  heartbeatTicks: 1,
  electionTicks: 10,
  preVote: true,
  checkQuorum: true,
  maxMsgBytes: 256 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 16 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  snapshotTrailingEntries: 1000,
  leaseDriftTicks: 2,
} as const;
