import type { Membership, NodeId, Snapshot } from '@synod/replog';

/**
 * A ballot: totally ordered by round, then by node id. Every node proposes only with its own id, so
 * two proposers never share a ballot.
 */
export interface Ballot {
  round: number;
  node: NodeId;
}

export const ZERO_BALLOT: Ballot = { round: 0, node: '' };

/** Negative, zero or positive as `a` is below, equal to or above `b`. */
export function compareBallots(a: Ballot, b: Ballot): number {
  if (a.round !== b.round) return a.round - b.round;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

export function sameBallot(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.node === b.node;
}

export type SlotKind = 'command' | 'noop' | 'membership';

/**
 * What an acceptor accepted in one slot: the value and the ballot it was accepted at. This is also
 * the durable record: a later record for the same slot supersedes the earlier one (and only it).
 * `data` of a membership value is the JSON of the MembershipChange; `membership` is the
 * configuration it establishes, in force `window` slots later.
 */
export interface Slot {
  index: number;
  ballot: Ballot;
  kind: SlotKind;
  data: Uint8Array;
  membership?: Membership;
}

/** What must survive a restart besides the accepted values: the promise, and what is known chosen. */
export interface PaxosMeta {
  promised: Ballot;
  commit: number;
}

/** A configuration and the first slot it decides (its membership value's slot + the window). */
export interface ConfigEpoch {
  from: number;
  membership: Membership;
}

/** The configurations in force from the slot after the snapshot on (a change may be pending). */
export interface PaxosSnapshotExtra {
  configs: ConfigEpoch[];
}

export type PaxosSnapshot = Snapshot<PaxosSnapshotExtra>;

interface Base {
  from: NodeId;
  to: NodeId;
  /** The ballot the message is about (a proposer's, or the one an answer refers to). */
  ballot: Ballot;
}

/** Would you promise this ballot? Changes nothing on the acceptor (Raft's PreVote, for Paxos). */
export interface PrePrepareMsg extends Base {
  type: 'prePrepare';
  commit: number;
  transfer: boolean;
}

export interface PrePrepareRespMsg extends Base {
  type: 'prePrepareResp';
  reject: boolean;
}

/**
 * Phase 1a for every slot from `fromSlot` on. `commit` is the proposer's chosen prefix: an acceptor
 * that compacted chosen slots beyond it refuses (it could not report them). A proposer asks again
 * with a higher `fromSlot` when a promise could not carry every accepted value in one message.
 */
export interface PrepareMsg extends Base {
  type: 'prepare';
  fromSlot: number;
  commit: number;
  transfer: boolean;
}

/**
 * Phase 1b: the promise (or its refusal, with the ballot promised instead, or `behind` when the
 * proposer's chosen prefix is below the acceptor's compaction point). `entries` are the accepted
 * values from `fromSlot` on, each with its ballot; slots up to `commit` are known chosen; `done`
 * says no accepted value follows.
 */
export interface PromiseMsg extends Base {
  type: 'promise';
  reject: boolean;
  behind: boolean;
  promised: Ballot;
  commit: number;
  fromSlot: number;
  entries: Slot[];
  done: boolean;
}

/** Phase 2a for the slots after `prevIndex`, pipelined; `commit` is the leader's chosen prefix. */
export interface AcceptMsg extends Base {
  type: 'accept';
  prevIndex: number;
  entries: Slot[];
  commit: number;
  /**
   * A chosen notice (see `broadcastChosen`): empty, at the acceptor's prefix end. An acceptor that
   * takes it does not answer (the leader learns nothing from the answer); a refusal is answered.
   */
  notice?: boolean;
}

/**
 * Phase 2b. On success `index` is the acceptor's contiguous prefix accepted at this ballot (or known
 * chosen). A refusal names the higher ballot `promised`, or (same ballot) a gap: `index` is then
 * where the acceptor's prefix ends.
 */
export interface AcceptRespMsg extends Base {
  type: 'acceptResp';
  reject: boolean;
  index: number;
  promised: Ballot;
}

/** The leader's heartbeat: keeps acceptors from preparing, carries commit and a read round. */
export interface HeartbeatMsg extends Base {
  type: 'heartbeat';
  commit: number;
  readRound: number;
}

export interface HeartbeatRespMsg extends Base {
  type: 'heartbeatResp';
  reject: boolean;
  readRound: number;
  index: number;
  promised: Ballot;
}

/** A snapshot for a lagging replica, in chunks (as Raft's InstallSnapshot). */
export interface SnapshotMsg extends Base {
  type: 'snap';
  snapshot: { index: number; membership: Membership; configs: ConfigEpoch[]; size: number };
  offset: number;
  data: Uint8Array;
  done: boolean;
}

export interface SnapshotRespMsg extends Base {
  type: 'snapResp';
  index: number;
  next: number;
  reject: boolean;
  done: boolean;
}

/** Leadership transfer: run phase 1 now, past the acceptors' leader lease. */
export interface TimeoutNowMsg extends Base {
  type: 'timeoutNow';
}

export type PaxosMessage =
  | PrePrepareMsg
  | PrePrepareRespMsg
  | PrepareMsg
  | PromiseMsg
  | AcceptMsg
  | AcceptRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapshotMsg
  | SnapshotRespMsg
  | TimeoutNowMsg;

export interface PaxosOptions {
  id: NodeId;
  /** Voters when the node starts with no durable state (bootstrap); ignored once state exists. */
  initialMembership: Membership;
  /** Uniform numbers in [0, 1): randomized election timeouts and the preempted proposer's backoff. */
  random: () => number;
  heartbeatTicks?: number;
  /** Ticks without hearing from a leader before preparing; randomized in [n, 2n). */
  electionTicks?: number;
  /** Largest total value bytes per accept or promise message. */
  maxMsgBytes?: number;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  /** Proposals beyond this many unchosen value bytes are refused with OVERLOADED. */
  maxUncommittedBytes?: number;
  snapshotChunkBytes?: number;
  snapshotTrailingEntries?: number;
  leaseDriftTicks?: number;
  /**
   * α of Paxos Made Moderately Complex: a configuration chosen at slot s decides slots from s + α;
   * a leader proposes slot s only once s − α is chosen, so at most α slots are in flight.
   */
  window?: number;
  /** Most doublings of the election timeout after repeated preemption. */
  maxBackoff?: number;
  /**
   * Keep every value once it is durable in `durableAccepts`, for an invariant checker to drain (the
   * simulator). Off in production: nothing would drain it.
   */
  trackDurableAccepts?: boolean;
}

export const DEFAULTS = {
  heartbeatTicks: 1,
  electionTicks: 10,
  maxMsgBytes: 256 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 16 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  snapshotTrailingEntries: 1000,
  leaseDriftTicks: 2,
  window: 1024,
  maxBackoff: 3,
  trackDurableAccepts: false,
} as const;
