/**
 * The replicated-log interface: what Synod's store needs from any consensus engine (Raft,
 * Multi-Paxos). Engines are pure state machines: no I/O, no timers, no randomness they are not
 * given. A driver (the replica's EngineHost, in production and in the simulator) feeds them time
 * (`tick`), messages (`step`) and requests (`propose`, `readIndex`, ...) and carries out the `Ready`
 * batches they produce, in the order the `Ready` type prescribes.
 */

export type NodeId = string;

/** Who votes and who only replicates. */
export interface Membership {
  voters: NodeId[];
  /** Non-voting members: they receive the log and catch up, and count for nothing. */
  learners: NodeId[];
}

/** One change at a time; a learner catches up before `promote` makes it a voter. */
export type MembershipChange =
  | { type: 'addLearner'; node: NodeId }
  | { type: 'promote'; node: NodeId }
  | { type: 'remove'; node: NodeId };

/** A committed log position handed to the state machine, in index order, each exactly once. */
export interface CommittedEntry {
  index: number;
  /** `noop`: written by a new leader (or to fill a gap); `membership`: a configuration change. */
  kind: 'command' | 'noop' | 'membership';
  data: Uint8Array;
  /** The configuration in force from this entry on (kind `membership` only). */
  membership?: Membership;
}

/** A read barrier: once the state machine has applied `index`, a read tagged `ctx` is linearizable. */
export interface ReadState {
  ctx: string;
  index: number;
}

/**
 * A snapshot's state-machine bytes: in memory (any Uint8Array is one), or read on demand from a file
 * the driver owns, so a large state is not held twice. `subarray` gives bytes [begin, end), clamped
 * to the length as Uint8Array's does; engines only slice it into chunks for followers.
 */
export interface SnapshotBytes {
  readonly length: number;
  subarray(begin?: number, end?: number): Uint8Array;
}

/** All of `data` as one Uint8Array (no copy when it is one already). */
export function snapshotBytes(data: SnapshotBytes): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray(0, data.length);
}

/** State-machine data at a log index, with the configuration in force there. */
export interface Snapshot<Extra = unknown> {
  index: number;
  membership: Membership;
  /** Engine-specific metadata (Raft: the term of `index`). */
  extra: Extra;
  data: SnapshotBytes;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader' | 'learner';

/** Failures an engine reports synchronously. `retryable` says whether the same call may succeed later. */
export type EngineErrorCode =
  | 'NOT_LEADER'
  | 'OVERLOADED'
  | 'TRANSFERRING'
  | 'MEMBERSHIP_PENDING'
  | 'NOT_CAUGHT_UP'
  | 'INVALID_CHANGE'
  | 'NOT_READY';

export interface EngineError {
  ok: false;
  code: EngineErrorCode;
  retryable: boolean;
  message: string;
  /** Who this node believes leads, when it knows. */
  leaderHint?: NodeId;
}

export type ProposeResult = { ok: true; index: number } | EngineError;
export type CallResult = { ok: true } | EngineError;

/**
 * One batch of work for the driver. The ordering contract:
 *
 * 0. Send `sendBeforePersist` (if any). It may go out before, or while, step 1 runs.
 * 1. Persist, durably (fdatasync) and in this order: `snapshot` if set, then `records` (appended
 *    after what was persisted before; a record may supersede earlier ones, which the engine sorts
 *    out on restore), then `meta` if set. Records before meta keeps meta's commit index covered
 *    by records on disk. A meta change of the commit index alone may be written lazily (with the
 *    next change of anything else): a restart with an older commit index only re-learns it.
 * 2. Only then send `messages`: they may promise what step 1 made durable (a vote, an ack).
 * 3. Apply `snapshot` (if set) to the state machine, then `committed` in order.
 * 4. Release `readStates` whose index the state machine has applied.
 * 5. Call `advance()`. The next `ready()` only holds what happened since.
 *
 * A crash anywhere in 1 loses nothing anyone was told about, except what `sendBeforePersist` told,
 * and that promises nothing about this node's disk (see there).
 */
export interface Ready<Msg, Rec, Meta> {
  snapshot?: Snapshot;
  records: Rec[];
  meta?: Meta;
  /**
   * Messages the driver may send before persisting this Ready (step 0), so that followers write
   * their copy while the leader writes its own (Raft dissertation §10.2.1; etcd's leader does the
   * same): a write then costs about max(leader fsync, round trip + follower fsync) instead of
   * their sum. Engines put here only a leader's replication traffic — appends, heartbeats and
   * commit notices — and only once the leader's epoch and vote are durable (an earlier Ready
   * carried them). Such a message promises nothing about this node's disk:
   *
   * - entries it carries that this node then loses in a crash were never counted for commit: the
   *   leader counts itself toward a quorum only for entries already durable on its own disk (made
   *   so by an earlier persist), so an entry commits only once a quorum holds it durably;
   * - the commit index it carries was reached by that rule, so it names only entries a quorum
   *   holds durably, whatever happens to this node;
   * - the epoch it carries is durable, so a restarted node can neither lead that epoch again nor
   *   vote for another leader in it (which a lost epoch or vote would allow, and with it two
   *   leaders appending different entries at one index in the same epoch).
   *
   * Never here: votes, vote requests, acknowledgements of entries or snapshots, or anything else
   * that promises what step 1 makes durable. Those stay in `messages`.
   */
  sendBeforePersist?: Msg[];
  messages: Msg[];
  committed: CommittedEntry[];
  readStates: ReadState[];
  /** Set when the role or the known leader changed (informational, for logs and routing). */
  softState?: { role: Role; leader: NodeId | undefined; epoch: number };
}

/** What persisted before a restart: the engine rebuilds itself from exactly this. */
export interface DurableState<Rec, Meta> {
  snapshot?: Snapshot;
  /** Every record persisted after the snapshot's records were released, in write order. */
  records: Rec[];
  meta?: Meta;
}

export interface EngineStatus {
  id: NodeId;
  role: Role;
  leader: NodeId | undefined;
  /** Raft's term, Paxos's ballot round: grows with every leadership change. */
  epoch: number;
  commitIndex: number;
  /** The last index handed out in `committed` (the driver applies up to here). */
  appliedIndex: number;
  lastIndex: number;
  membership: Membership;
  /** Leader only: how far each member has replicated. */
  progress?: Record<NodeId, { match: number; next: number; state: string }>;
}

export interface ReadOptions {
  /**
   * `read-index` (default): confirm leadership with a quorum round, then read at the commit index.
   * `lease`: skip the round while the leader lease holds (needs bounded clock drift; see the engine).
   */
  mode?: 'read-index' | 'lease';
}

/** Messages carry their addressing so drivers can route them without knowing the engine. */
export interface Addressed {
  from: NodeId;
  to: NodeId;
}

/** A consensus engine behind the replicated-log interface. */
export interface ConsensusEngine<Msg extends Addressed, Rec, Meta> {
  readonly id: NodeId;
  /** Advances the engine's logical clock by one tick (the driver calls it at a fixed interval). */
  tick(): void;
  /** Delivers a message from a peer. Messages may be lost, duplicated or reordered. */
  step(msg: Msg): void;
  /** Appends a command; it is committed later (or lost if leadership changes first). */
  propose(data: Uint8Array): ProposeResult;
  /** Asks for a linearizable read barrier; it arrives as a `ReadState` tagged `ctx`. */
  readIndex(ctx: string, opts?: ReadOptions): CallResult;
  proposeMembership(change: MembershipChange): ProposeResult;
  /** Hands leadership to `to` (the leader only). */
  transferLeadership(to: NodeId): CallResult;
  /**
   * The state machine holds everything up to `index` (≤ applied) as `data`: the log before it may
   * go. Returns the snapshot with the engine's metadata, which the driver persists; records written
   * before it stay needed for the entries after `index`.
   */
  snapshotTaken(index: number, data: SnapshotBytes): Snapshot;
  status(): EngineStatus;
  hasReady(): boolean;
  ready(): Ready<Msg, Rec, Meta>;
  advance(): void;
}

export function engineError(code: EngineErrorCode, message: string, leaderHint?: NodeId): EngineError {
  const retryable = code !== 'INVALID_CHANGE';
  return leaderHint === undefined ? { ok: false, code, retryable, message } : { ok: false, code, retryable, message, leaderHint };
}
