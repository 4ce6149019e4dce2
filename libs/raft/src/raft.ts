import {
  applyMembershipChange,
  chunkUnanswered,
  engineError,
  majorityValue,
  nextChunk,
  Progress,
  progressReport,
  ReadTracker,
  ReadyGate,
  sameSoft,
  snapshotAnswered,
  SnapshotReceiver,
  splitEarly,
  utf8,
  voteResult,
  type CallResult,
  type ConsensusEngine,
  type DurableState,
  type EngineStatus,
  type Membership,
  type MembershipChange,
  type NodeId,
  type ProposeResult,
  type ReadOptions,
  type Ready,
  type Role,
  type SnapshotBytes,
  type SoftState,
} from '@synod/replog';
import { entryBytes, RaftLog } from './log.js';
import { toCommitted } from './wal.js';
import {
  DEFAULTS,
  type AppendMsg,
  type AppendRespMsg,
  type Entry,
  type HardState,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type RaftMessage,
  type RaftOptions,
  type RaftSnapshot,
  type SnapshotMsg,
  type SnapshotRespMsg,
  type VoteMsg,
  type VoteRespMsg,
} from './types.js';

export type RaftReady = Ready<RaftMessage, Entry, HardState>;
export type RaftDurableState = DurableState<Entry, HardState>;

type Distributive<T> = T extends unknown ? Omit<T, 'from' | 'term'> : never;
type Outgoing = Distributive<RaftMessage>;

const EMPTY = new Uint8Array(0);

/**
 * The Raft core: the whole algorithm as a pure state machine (the paper's section numbers in
 * comments). No I/O, no timers, no randomness but `options.random`. The driver calls `tick()` at a
 * fixed interval, `step()` with peer messages, and carries out `ready()` as its type prescribes.
 *
 * Between `ready()` and `advance()` the driver must not call into the node: the Ready describes
 * the node's state at that moment.
 */
export class RaftNode implements ConsensusEngine<RaftMessage, Entry, HardState> {
  readonly id: NodeId;
  protected readonly opts: Required<Omit<RaftOptions, 'initialMembership' | 'random' | 'id'>>;
  private readonly random: () => number;

  // Persistent state (Figure 2), plus commit in the log.
  term = 0;
  vote: NodeId | undefined;
  readonly log: RaftLog;

  role: Role = 'follower';
  leader: NodeId | undefined;
  membership: Membership;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /**
   * A node restarted from durable state cannot know whether it recently heard from a leader that
   * may be serving lease reads, so it ignores campaigns for one election timeout after start.
   */
  private restartQuietTicks = 0;
  private now = 0;

  private leadTransferee: NodeId | undefined;
  /** New entries not yet offered to followers: appends go out once per Ready, batching proposals. */
  private appendPending = false;
  private uncommittedBytes = 0;
  /** Read-index and lease reads (§6.4); reads asked before this leader committed an entry of its term wait. */
  private readonly reads: ReadTracker;

  /** Snapshot chunks received so far (follower side). */
  private readonly incoming = new SnapshotReceiver<{ index: number; term: number; membership: Membership }>();

  // What the next Ready carries.
  private msgs: RaftMessage[] = [];
  private snapshotToPersist: RaftSnapshot | undefined;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private readonly gate = new ReadyGate<{ last: number; committed: number; hard: HardState; soft: SoftState }>();

  constructor(options: RaftOptions, durable?: RaftDurableState) {
    this.id = options.id;
    this.random = options.random;
    this.opts = {
      heartbeatTicks: options.heartbeatTicks ?? DEFAULTS.heartbeatTicks,
      electionTicks: options.electionTicks ?? DEFAULTS.electionTicks,
      preVote: options.preVote ?? DEFAULTS.preVote,
      checkQuorum: options.checkQuorum ?? DEFAULTS.checkQuorum,
      maxMsgBytes: options.maxMsgBytes ?? DEFAULTS.maxMsgBytes,
      maxInflightMsgs: options.maxInflightMsgs ?? DEFAULTS.maxInflightMsgs,
      maxInflightBytes: options.maxInflightBytes ?? DEFAULTS.maxInflightBytes,
      maxUncommittedBytes: options.maxUncommittedBytes ?? DEFAULTS.maxUncommittedBytes,
      snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes,
      snapshotTrailingEntries: options.snapshotTrailingEntries ?? DEFAULTS.snapshotTrailingEntries,
      leaseDriftTicks: options.leaseDriftTicks ?? DEFAULTS.leaseDriftTicks,
    };
    if (this.opts.heartbeatTicks >= this.opts.electionTicks) throw new Error('heartbeatTicks must be below electionTicks');
    this.reads = new ReadTracker(this.opts);
    this.log = new RaftLog(options.initialMembership);
    this.restore(durable);
    this.membership = this.log.membershipAt(this.log.lastIndex());
    this.prevHard = this.hardState();
    this.prevSoft = this.softState();
    this.becomeFollower(this.term, undefined);
    this.prevSoft = this.softState();
  }

  // ---------------------------------------------------------------- restart from durable state

  private restore(durable: RaftDurableState | undefined): void {
    if (!durable) return;
    this.restartQuietTicks = this.opts.electionTicks;
    if (durable.snapshot) {
      const s = durable.snapshot as RaftSnapshot;
      this.log.restore(s);
    }
    // Records are entries in write order; a later entry at an index supersedes the suffix from it.
    for (const e of durable.records) {
      if (e.index <= this.log.offset) continue;
      if (e.index > this.log.lastIndex() + 1) throw new Error(`log gap on restore: entry ${e.index} after ${this.log.lastIndex()}`);
      if (e.index <= this.log.lastIndex()) this.log.truncateFrom(e.index);
      this.log.entries.push(e);
    }
    this.log.stable = this.log.lastIndex();
    const meta = durable.meta;
    // Records are written before meta: a crash between them may leave entries of a newer term.
    this.term = Math.max(meta?.term ?? 0, this.log.lastTerm());
    this.vote = meta && meta.term === this.term ? meta.vote : undefined;
    const commit = Math.min(Math.max(meta?.commit ?? 0, this.log.offset), this.log.lastIndex());
    this.log.committed = Math.max(this.log.committed, commit);
  }

  // ---------------------------------------------------------------- public API

  tick(): void {
    this.guard();
    this.now++;
    if (this.restartQuietTicks > 0) this.restartQuietTicks--;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  step(m: RaftMessage): void {
    this.guard();
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // §9.6 with CheckQuorum: while we hear from a live leader, ignore campaigns (a partitioned
        // node rejoining must not depose it), unless the leader itself asked for the transfer.
        if (!m.transfer && this.inLease()) return;
      }
      if (m.type === 'preVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // Granted pre-votes carry the term we would campaign at.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, undefined);
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader learns our term and steps down (it may be cut off by PreVote otherwise).
        this.send({ type: 'appResp', to: m.from, index: 0, reject: true, hint: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return;
      case 'voteResp':
      case 'preVoteResp':
        this.handleVoteResponse(m);
        return;
      default:
        break;
    }

    if (this.role === 'leader') {
      this.stepLeader(m);
      return;
    }
    if ((m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') && (this.role === 'candidate' || this.role === 'pre-candidate')) {
      // §5.2: a candidate that hears from a leader of its term returns to follower.
      this.becomeFollower(m.term, m.from);
    }
    switch (m.type) {
      case 'app':
        this.hearFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.hearFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.hearFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // §3.10: the leader hands over; campaign now, skipping PreVote.
        if (this.promotable()) this.campaign('vote', true);
        return;
      default:
        // Responses addressed to a leader we no longer are: stale.
        return;
    }
  }

  propose(data: Uint8Array): ProposeResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (this.leadTransferee !== undefined) return engineError('TRANSFERRING', `leadership is moving to ${this.leadTransferee}`, this.id);
    const index = this.appendAsLeader('normal', data);
    if (index === undefined) {
      return engineError('OVERLOADED', `more than ${this.opts.maxUncommittedBytes} uncommitted bytes`, this.id);
    }
    return { ok: true, index };
  }

  proposeMembership(change: MembershipChange): ProposeResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (this.leadTransferee !== undefined) return engineError('TRANSFERRING', `leadership is moving to ${this.leadTransferee}`, this.id);
    // One change at a time, and only once this leader committed an entry of its own term: the
    // fix for the single-server change bug (Ongaro, raft-dev 2015).
    if (this.log.lastMembershipIndex() > this.log.committed) return engineError('MEMBERSHIP_PENDING', 'a membership change is still uncommitted', this.id);
    if (this.log.term(this.log.committed) !== this.term) return engineError('NOT_READY', 'the leader has not committed an entry of its term yet', this.id);
    const next = applyMembershipChange(this.membership, change);
    if (typeof next === 'string') return engineError('INVALID_CHANGE', next, this.id);
    if (change.type === 'promote') {
      const pr = this.progress.get(change.node);
      if (!pr || pr.match < this.log.committed) {
        return engineError('NOT_CAUGHT_UP', `learner ${change.node} is at ${pr?.match ?? 0}, the commit index is ${this.log.committed}`, this.id);
      }
    }
    const index = this.appendAsLeader('membership', utf8.encode(JSON.stringify(change)), next);
    if (index === undefined) return engineError('OVERLOADED', 'too many uncommitted bytes', this.id);
    return { ok: true, index };
  }

  readIndex(ctx: string, opts: ReadOptions = {}): CallResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (this.log.term(this.log.committed) !== this.term) {
      // §6.4: the commit index is known to be current only once an entry of this term commits.
      this.reads.wait(ctx, opts.mode);
      return { ok: true };
    }
    this.startRead(ctx, opts.mode);
    return { ok: true };
  }

  transferLeadership(to: NodeId): CallResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (to === this.id) return { ok: true };
    if (!this.membership.voters.includes(to)) return engineError('INVALID_CHANGE', `${to} is not a voter`, this.id);
    this.leadTransferee = to;
    // The transfer is abandoned if it takes longer than an election timeout.
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.nudge(to, pr);
    return { ok: true };
  }

  snapshotTaken(index: number, data: SnapshotBytes): RaftSnapshot {
    this.guard();
    if (index > this.log.applied) throw new Error(`snapshot at ${index} beyond applied ${this.log.applied}`);
    const current = this.log.snapshot;
    if (current && index <= current.index) return current;
    const term = this.log.term(index);
    if (term === undefined) throw new Error(`snapshot at ${index}: entry compacted`);
    const snapshot: RaftSnapshot = { index, membership: this.log.membershipAt(index), extra: { term }, data };
    this.log.snapshot = snapshot;
    this.log.compactTo(Math.max(this.log.offset, index - this.opts.snapshotTrailingEntries));
    return snapshot;
  }

  status(): EngineStatus {
    const s: EngineStatus = {
      id: this.id,
      role: this.role,
      leader: this.leader,
      epoch: this.term,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      membership: this.membership,
    };
    if (this.role === 'leader') s.progress = progressReport(this.progress, this.id, this.selfMatch(), this.log.lastIndex());
    return s;
  }

  hasReady(): boolean {
    return (
      this.appendPending ||
      this.reads.roundPending ||
      this.msgs.length > 0 ||
      this.reads.hasStates ||
      this.snapshotToPersist !== undefined ||
      this.log.stable < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      !sameHard(this.hardState(), this.prevHard) ||
      !sameSoft(this.softState(), this.prevSoft)
    );
  }

  ready(): RaftReady {
    this.guard();
    if (this.appendPending) {
      this.appendPending = false;
      if (this.role === 'leader') this.broadcastAppend();
    }
    if (this.reads.roundPending) {
      this.reads.roundPending = false;
      if (this.role === 'leader') {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
    }
    const hard = this.hardState();
    const soft = this.softState();
    const committed = this.log.nextCommitted().map(toCommitted);
    const { early, later } = this.splitOutgoing(hard);
    const rd: RaftReady = { records: this.log.unstableEntries(), messages: later, committed, readStates: this.reads.takeStates() };
    if (early.length > 0) rd.sendBeforePersist = early;
    if (this.snapshotToPersist) rd.snapshot = this.snapshotToPersist;
    if (!sameHard(hard, this.prevHard)) rd.meta = hard;
    if (!sameSoft(soft, this.prevSoft)) rd.softState = soft;
    this.msgs = [];
    this.gate.handOut({ last: this.log.lastIndex(), committed: this.log.committed, hard, soft });
    return rd;
  }

  /**
   * Which of the pending messages may go out before this Ready is persisted (`sendBeforePersist`):
   * a leader's appends, commit notices and heartbeats of its current term, once that term and the
   * vote that won it are durable (an earlier Ready carried them: `prevHard` is what the last
   * advanced Ready persisted). Such messages promise nothing about this node's disk, because
   * `maybeCommit` counts the leader only for entries durable here. Everything else — votes, acks,
   * snapshot chunks, TimeoutNow, and any message of a term not yet durable (a single voter that
   * just elected itself) — waits for the persist.
   */
  private splitOutgoing(hard: HardState): { early: RaftMessage[]; later: RaftMessage[] } {
    if (this.role !== 'leader' || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote) return { early: [], later: this.msgs };
    return splitEarly(this.msgs, (m) => m.term === this.term && (m.type === 'app' || m.type === 'heartbeat'));
  }

  advance(): void {
    const out = this.gate.take();
    this.log.stable = Math.max(this.log.stable, out.last);
    if (out.committed > this.log.applied) this.log.applied = out.committed;
    this.snapshotToPersist = undefined;
    this.prevHard = out.hard;
    this.prevSoft = out.soft;
    if (this.role === 'leader') {
      // The leader's own entries became durable: they count toward the quorum from now on (a
      // single voter commits here). Followers hear of a new commit index as after an ack.
      const self = this.progress.get(this.id);
      if (self) self.match = this.log.stable;
      if (this.maybeCommit()) {
        this.broadcastAppend();
        this.broadcastCommit();
      }
    }
    // A leader removed from the configuration leaves once the removal is committed (§4.2.2).
    if (this.role === 'leader' && !this.membership.voters.includes(this.id) && this.log.lastMembershipIndex() <= this.log.committed) {
      this.becomeFollower(this.term, undefined);
    }
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, leader: NodeId | undefined): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = undefined;
    }
    this.role = this.membership.learners.includes(this.id) ? 'learner' : 'follower';
    this.leader = leader;
    this.resetTimers();
    this.abandonLeaderState();
  }

  private becomePreCandidate(): void {
    // PreVote (§9.6) changes neither term nor vote: a node that cannot win disturbs nobody.
    this.role = 'pre-candidate';
    this.leader = undefined;
    this.votes = new Map([[this.id, true]]);
  }

  private becomeCandidate(): void {
    this.term++;
    this.vote = this.id;
    this.role = 'candidate';
    this.leader = undefined;
    this.resetTimers();
    this.votes = new Map([[this.id, true]]);
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    this.resetTimers();
    this.progress = new Map();
    for (const id of this.members()) this.progress.set(id, new Progress(this.log.lastIndex() + 1, !this.membership.voters.includes(id)));
    // The leader's own match is what is durable on its disk (see maybeCommit).
    this.progress.get(this.id)!.match = this.log.stable;
    this.uncommittedBytes = 0;
    this.reads.resetRounds();
    // §5.4.2 / §6.4: a no-op of the new term lets earlier entries commit and read-index start.
    this.appendAsLeader('noop', EMPTY, undefined, true);
  }

  private abandonLeaderState(): void {
    this.leadTransferee = undefined;
    this.appendPending = false;
    this.reads.abandon();
    this.progress = new Map();
    this.uncommittedBytes = 0;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.opts.electionTicks + Math.floor(this.random() * this.opts.electionTicks);
  }

  // ---------------------------------------------------------------- elections (§5.2)

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.opts.preVote ? 'preVote' : 'vote', false);
    }
  }

  private campaign(kind: 'preVote' | 'vote', transfer: boolean): void {
    if (kind === 'preVote') this.becomePreCandidate();
    else this.becomeCandidate();
    const term = kind === 'preVote' ? this.term + 1 : this.term;
    if (voteResult([this.membership], this.votes) === 'won') {
      // A single voter wins at once.
      if (kind === 'preVote') this.campaign('vote', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.membership.voters) {
      if (id === this.id) continue;
      this.msgs.push({ type: kind, from: this.id, to: id, term, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer });
    }
  }

  private handleVoteRequest(m: VoteMsg): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === undefined && this.leader === undefined) ||
      (m.type === 'preVote' && m.term > this.term);
    const grant = canVote && this.candidateUpToDate(m.lastIndex, m.lastTerm) && this.membership.voters.includes(this.id);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (grant) {
      // A granted pre-vote answers at the candidate's future term, so it is not taken for stale.
      this.msgs.push({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private handleVoteResponse(m: VoteRespMsg): void {
    const expected = this.role === 'pre-candidate' ? 'preVoteResp' : this.role === 'candidate' ? 'voteResp' : undefined;
    if (m.type !== expected) return;
    if (m.type === 'preVoteResp' && m.term !== this.term + 1 && !m.reject) return;
    this.votes.set(m.from, !m.reject);
    const result = voteResult([this.membership], this.votes);
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.campaign('vote', false);
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, undefined);
    }
  }

  /** True while a leader was heard from recently (or we just started): campaigns are ignored. */
  private inLease(): boolean {
    if (!this.opts.checkQuorum || this.electionElapsed >= this.opts.electionTicks) return false;
    return this.leader !== undefined || this.restartQuietTicks > 0;
  }

  private hearFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leader = from;
  }

  private promotable(): boolean {
    return this.membership.voters.includes(this.id);
  }

  // ---------------------------------------------------------------- the leader

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTicks) {
      this.electionElapsed = 0;
      // CheckQuorum (§6.2): a leader that has not heard from a quorum steps down.
      if (this.opts.checkQuorum) {
        const active = new Map<NodeId, boolean>();
        for (const [id, pr] of this.progress) active.set(id, id === this.id || pr.recentActive);
        for (const pr of this.progress.values()) pr.recentActive = false;
        if (voteResult([this.membership], active) !== 'won') {
          this.becomeFollower(this.term, undefined);
          return;
        }
      }
      if (this.leadTransferee !== undefined) this.leadTransferee = undefined;
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private stepLeader(m: RaftMessage): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return;
      case 'snapResp':
        this.handleSnapshotResponse(m, pr);
        return;
      default:
        return;
    }
  }

  /** Appends one entry of the current term; undefined when over the uncommitted bound. */
  private appendAsLeader(type: Entry['type'], data: Uint8Array, membership?: Membership, force = false): number | undefined {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    if (membership) e.membership = membership;
    const bytes = entryBytes(e);
    if (!force && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.opts.maxUncommittedBytes) return undefined;
    this.uncommittedBytes += bytes;
    this.log.append([e]);
    if (membership) this.applyMembership(membership);
    // Followers hear about it with the next Ready, in one message per follower for all proposals
    // made until then (sent while the leader persists it). The leader counts toward the commit
    // quorum for it only once that persist is done (advance), a single voter included.
    this.appendPending = true;
    return e.index;
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /**
   * After the commit index advanced: tell every follower that got no append carrying it, so that
   * followers apply (and serve watches and stale reads) now rather than at the next heartbeat, as
   * etcd's leader does. The message is an empty append at the follower's match index: it cannot
   * be refused by a follower in replicate state, holds no in-flight slot, and lets the follower
   * commit only what it is known to hold.
   */
  private broadcastCommit(): void {
    for (const [id, pr] of this.progress) if (id !== this.id) this.sendCommit(id, pr);
  }

  /** The commit notice of `broadcastCommit` to one follower, if it may commit more than it was told. */
  private sendCommit(to: NodeId, pr: Progress): void {
    if (pr.state !== 'replicate') return;
    const target = Math.min(this.log.committed, pr.match);
    if (target <= pr.commitSent) return;
    const prevTerm = this.log.term(pr.match);
    if (prevTerm === undefined) return;
    this.msgs.push({ type: 'app', from: this.id, to, term: this.term, prevIndex: pr.match, prevTerm, entries: [], commit: this.log.committed, notice: true });
    pr.commitSent = target;
  }

  private broadcastHeartbeat(): void {
    const readRound = this.reads.newRound(this.now);
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.msgs.push({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readRound });
      pr.commitSent = Math.max(pr.commitSent, commit);
      // A snapshot chunk unanswered for a whole heartbeat interval was probably lost: send it again.
      if (chunkUnanswered(pr)) this.sendSnapshotChunk(id, pr);
    }
    this.releaseReads();
  }

  /** Sends what `to` is missing, within the flow-control bounds. */
  private sendAppend(to: NodeId): void {
    const pr = this.progress.get(to);
    if (!pr) return;
    for (;;) {
      if (pr.paused(this.opts.maxInflightMsgs, this.opts.maxInflightBytes)) return;
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) {
        this.startSnapshot(to, pr);
        return;
      }
      const last = this.log.lastIndex();
      const entries = pr.next <= last ? this.log.slice(pr.next, last, this.opts.maxMsgBytes) : [];
      // In replicate state an empty append is pointless; probes may be empty (they carry commit).
      if (entries.length === 0 && pr.state === 'replicate') return;
      this.msgs.push({ type: 'app', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
      if (!pr.sentAppend(prevIndex, entries.length, entries.reduce((n, e) => n + entryBytes(e), 0), this.log.committed)) return;
    }
  }

  private handleAppendResponse(m: AppendRespMsg, pr: Progress): void {
    if (m.reject) {
      if (pr.maybeDecrTo(m.index, m.hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.paused(this.opts.maxInflightMsgs, this.opts.maxInflightBytes);
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused) this.sendAppend(m.from);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex) pr.becomeProbe();
    if (this.maybeCommit()) {
      this.broadcastAppend();
      this.broadcastCommit();
    } else {
      this.sendAppend(m.from);
      // A follower acknowledging entries that are committed already (it was slower than the
      // quorum) learns so now, not at the next heartbeat.
      this.sendCommit(m.from, pr);
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: m.from });
  }

  /** Gets a stalled follower moving again (after lost appends). */
  private nudge(to: NodeId, pr: Progress): void {
    if (pr.state === 'probe') {
      pr.probeSent = false;
      this.sendAppend(to);
    } else if (pr.state === 'replicate') {
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) this.startSnapshot(to, pr);
      else this.msgs.push({ type: 'app', from: this.id, to, term: this.term, prevIndex, prevTerm, entries: [], commit: this.log.committed });
    }
  }

  private handleHeartbeatResponse(m: HeartbeatRespMsg, pr: Progress): void {
    if (m.readRound > pr.ackRound) pr.ackRound = m.readRound;
    if (pr.match < this.log.lastIndex()) {
      // Appends lost in the network would stall the follower: a heartbeat answer unblocks it. In
      // probe, resend; in replicate, an empty append at `next - 1` makes the follower either
      // confirm it or reject, which turns the progress back to probe.
      this.nudge(m.from, pr);
    }
    this.releaseReads();
  }

  /**
   * Advances the commit index to the highest index stored on a quorum (§5.3), but only counting
   * entries of the current term (§5.4.2, Figure 8).
   *
   * The leader counts itself only for entries durable on its own disk (`log.stable`), not for its
   * whole log: its appends go out before it persists them (`Ready.sendBeforePersist`, dissertation
   * §10.2.1), so a follower may acknowledge an entry the leader has yet to write, and a crash may
   * still take it from the leader. A follower's match is durable by construction (it acknowledges
   * only after persisting).
   */
  protected maybeCommit(): boolean {
    if (this.membership.voters.length === 0) return false;
    const quorumIndex = majorityValue(this.membership.voters, (id) => (id === this.id ? this.selfMatch() : (this.progress.get(id)?.match ?? 0)));
    if (quorumIndex <= this.log.committed || !this.canCommitAt(quorumIndex)) return false;
    const before = this.log.committed;
    this.log.commitTo(quorumIndex);
    // Only entries this leader appended were counted.
    for (let i = before + 1; i <= quorumIndex; i++) {
      const e = this.log.entry(i);
      if (e && e.term === this.term) this.uncommittedBytes -= entryBytes(e);
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    if (this.log.term(before) !== this.term && this.log.term(quorumIndex) === this.term) this.onFirstCommitOfTerm();
    return true;
  }

  /** What the leader counts for itself in the commit rule: its durable log. */
  private selfMatch(): number {
    return Math.min(this.log.stable, this.log.lastIndex());
  }

  /** §5.4.1 election restriction; a test-only subclass breaks it to prove the simulator notices. */
  protected candidateUpToDate(lastIndex: number, lastTerm: number): boolean {
    return this.log.isUpToDate(lastIndex, lastTerm);
  }

  /** The commit rule's term check; a test-only subclass breaks it to prove the simulator notices. */
  protected canCommitAt(index: number): boolean {
    return this.log.term(index) === this.term;
  }

  private onFirstCommitOfTerm(): void {
    this.reads.startWaiting((ctx, mode) => this.startRead(ctx, mode));
  }

  // ---------------------------------------------------------------- linearizable reads (§6.4)

  private startRead(ctx: string, mode: ReadOptions['mode']): void {
    const sole = this.membership.voters.length === 1 && this.membership.voters[0] === this.id;
    this.reads.request(ctx, this.log.committed, sole || (mode === 'lease' && this.leaseValid()));
  }

  private readonly ackRound = (id: NodeId): number => this.progress.get(id)?.ackRound ?? 0;

  private releaseReads(): void {
    this.reads.release([this.membership], this.id, this.ackRound);
  }

  /**
   * The leader lease (ReadTracker.leaseValid): followers ignore campaigns for `electionTicks` after
   * hearing from us (inLease). Only sound with CheckQuorum.
   */
  protected leaseValid(): boolean {
    return this.opts.checkQuorum && this.reads.leaseValid(this.now, [this.membership], this.id, this.ackRound);
  }

  // ---------------------------------------------------------------- snapshots (§7), chunked

  private startSnapshot(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot;
    if (!snap) throw new Error(`follower ${to} needs compacted entries but there is no snapshot`);
    pr.becomeSnapshot(snap.index);
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot;
    if (!snap) return;
    const c = nextChunk(snap, pr, this.opts.snapshotChunkBytes);
    this.msgs.push({ type: 'snap', from: this.id, to, term: this.term, snapshot: { index: snap.index, term: snap.extra.term, membership: snap.membership, size: c.size }, offset: c.offset, data: c.data, done: c.done });
  }

  private handleSnapshotResponse(m: SnapshotRespMsg, pr: Progress): void {
    const answer = snapshotAnswered(pr, m);
    if (answer === 'installed') this.sendAppend(m.from);
    else if (answer === 'next') this.sendSnapshotChunk(m.from, pr);
  }

  private handleSnapshot(m: SnapshotMsg): void {
    const s = m.snapshot;
    if (s.index <= this.log.committed) {
      // Already have it all.
      this.incoming.reset();
      this.send({ type: 'snapResp', to: m.from, index: s.index, next: s.size, done: true, reject: false });
      return;
    }
    const { complete, ...answer } = this.incoming.receive(`${s.index}/${s.term}`, s, { offset: m.offset, data: m.data, done: m.done, size: s.size });
    if (complete) {
      const snapshot: RaftSnapshot = { index: s.index, membership: complete.meta.membership, extra: { term: s.term }, data: complete.data };
      if (this.log.matchTerm(s.index, s.term)) {
        // Our log already holds the snapshot's last entry: keep the log, just commit up to it.
        this.log.commitTo(s.index);
      } else {
        this.log.restore(snapshot);
        this.snapshotToPersist = snapshot;
        this.membership = snapshot.membership;
        this.refreshRole();
      }
    }
    this.send({ type: 'snapResp', to: m.from, index: s.index, ...answer });
  }

  // ---------------------------------------------------------------- the follower

  private handleAppend(m: AppendMsg): void {
    if (m.prevIndex < this.log.committed) {
      // Everything up to our commit index is settled; tell the leader where we are.
      if (m.notice) return;
      this.send({ type: 'appResp', to: m.from, index: this.log.committed, reject: false, hint: 0 });
      return;
    }
    const result = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (!result) {
      const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
      this.send({ type: 'appResp', to: m.from, index: m.prevIndex, reject: true, hint });
      return;
    }
    if (result.truncated || m.entries.some((e) => e.type === 'membership')) {
      this.membership = this.log.membershipAt(this.log.lastIndex());
      this.refreshRole();
    }
    this.log.commitTo(Math.min(m.commit, result.last));
    if (m.notice) return;
    this.send({ type: 'appResp', to: m.from, index: result.last, reject: false, hint: 0 });
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    // The leader caps commit at what it knows we hold, so this never commits a divergent entry.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, readRound: m.readRound });
  }

  // ---------------------------------------------------------------- membership (§4, single-server)

  /** A configuration takes effect as soon as its entry is in the log (§4.1). */
  private applyMembership(m: Membership): void {
    this.membership = m;
    if (this.role !== 'leader') return;
    for (const id of [...m.voters, ...m.learners]) {
      const learner = m.learners.includes(id);
      const pr = this.progress.get(id);
      if (!pr || pr.isLearner !== learner) {
        const np = new Progress(this.log.lastIndex() + 1, learner);
        if (pr) {
          np.match = pr.match;
          np.next = pr.next;
        }
        this.progress.set(id, np);
      }
    }
    for (const id of [...this.progress.keys()]) if (!m.voters.includes(id) && !m.learners.includes(id) && id !== this.id) this.progress.delete(id);
  }

  private refreshRole(): void {
    if (this.role === 'follower' || this.role === 'learner') this.role = this.membership.learners.includes(this.id) ? 'learner' : 'follower';
  }

  // ---------------------------------------------------------------- helpers

  private members(): NodeId[] {
    const all = new Set([...this.membership.voters, ...this.membership.learners, this.id]);
    return [...all];
  }

  private send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, term: this.term } as RaftMessage);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, epoch: this.term };
  }

  private guard(): void {
    this.gate.guard();
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
