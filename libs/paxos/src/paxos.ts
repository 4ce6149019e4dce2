import {
  applyMembershipChange,
  chunkUnanswered,
  engineError,
  hasQuorum,
  hashBytes,
  majorityValue,
  nextChunk,
  Progress,
  progressReport,
  ReadTracker,
  ReadyGate,
  sameBytes,
  sameSoft,
  snapshotAnswered,
  SnapshotReceiver,
  splitEarly,
  utf8,
  voteResult,
  votersOf,
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
import { PaxosLog, slotBytes } from './log.js';
import { toCommitted } from './wal.js';
import {
  compareBallots,
  DEFAULTS,
  sameBallot,
  ZERO_BALLOT,
  type AcceptMsg,
  type AcceptRespMsg,
  type Ballot,
  type HeartbeatMsg,
  type HeartbeatRespMsg,
  type PaxosMessage,
  type PaxosMeta,
  type PaxosOptions,
  type PaxosSnapshot,
  type PrepareMsg,
  type PrePrepareMsg,
  type PrePrepareRespMsg,
  type PromiseMsg,
  type Slot,
  type SlotKind,
  type SnapshotMsg,
  type SnapshotRespMsg,
} from './types.js';

export type PaxosReady = Ready<PaxosMessage, Slot, PaxosMeta>;
export type PaxosDurableState = DurableState<Slot, PaxosMeta>;

type Distributive<T> = T extends unknown ? Omit<T, 'from' | 'ballot'> : never;
type Outgoing = Distributive<PaxosMessage>;

const EMPTY = new Uint8Array(0);

/** A value learned in phase 1 for one slot: the highest-ballot accepted one, or a chosen one. */
export interface Adopted {
  slot: Slot;
  chosen: boolean;
}

interface Phase1 {
  /** Acceptors whose promise is complete (every accepted value received). */
  done: Set<NodeId>;
  refused: Set<NodeId>;
  /** Acceptors a prepare went to. */
  asked: Set<NodeId>;
  /** Each acceptor's chosen prefix, from its promise: where to start replicating to it. */
  commits: Map<NodeId, number>;
  adopted: Map<number, Adopted>;
  /** The proposer's chosen prefix when it started: phase 1 covers every slot after it. */
  base: number;
}

/**
 * Multi-Paxos as a pure state machine behind the replicated-log interface (docs/paxos.md).
 *
 * - Single-decree core per slot: acceptors promise a ballot (durably, before answering) and accept
 *   a value at a ballot no lower than their promise (durably, before answering); a proposer that
 *   won phase 1 proposes, for every open slot, the value accepted at the highest ballot its quorum
 *   reported (a no-op where none was); a value is chosen once a majority accepted it at one ballot.
 * - Multi-Paxos: a stable leader runs phase 1 once for every slot after its chosen prefix, then
 *   phase 2 per slot, pipelined; heartbeats keep acceptors from starting phase 1 needlessly, and a
 *   pre-phase (prePrepare) keeps a node that cannot win from raising the ballot.
 * - One leader per round: an acceptor promises a ballot of the round it promised only to the same
 *   node, so a round has at most one leader (the epoch the interface reports).
 * - Configurations through the log with the window α: the value chosen at slot s decides slots
 *   from s + α on; the leader proposes at slot s only when s − α is chosen.
 *
 * No I/O, no clock, no randomness but `options.random`.
 */
export class PaxosNode implements ConsensusEngine<PaxosMessage, Slot, PaxosMeta> {
  readonly id: NodeId;
  protected readonly opts: Required<Omit<PaxosOptions, 'initialMembership' | 'random' | 'id'>>;
  private readonly random: () => number;

  /** The acceptor's promise: it accepts nothing below it (durable). */
  promised: Ballot = ZERO_BALLOT;
  readonly log: PaxosLog;

  role: Role = 'follower';
  leader: NodeId | undefined;
  /** The ballot this node proposes with, as candidate or leader. */
  ballot: Ballot = ZERO_BALLOT;
  /** Highest round seen anywhere: the next campaign goes above it. */
  private maxRound = 0;
  /** The last round this node led (after a restart: assumed to be the one it promised itself). */
  private ledRound = 0;

  /** The acceptor's prefix accepted at `matchBallot` (or known chosen). */
  private matchBallot: Ballot = ZERO_BALLOT;
  private matchIndex = 0;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private backoff = 0;
  private restartQuietTicks = 0;
  private now = 0;

  private preVotes = new Map<NodeId, boolean>();
  private prePrepareBallot: Ballot = ZERO_BALLOT;
  private phase1: Phase1 | undefined;
  private transferCampaign = false;

  private progress = new Map<NodeId, Progress>();
  /** The last slot phase 1 re-proposed: reads and membership changes wait until it is chosen. */
  private phase1End = 0;
  private leadTransferee: NodeId | undefined;
  private appendPending = false;
  private uncommittedBytes = 0;
  /** Read-index and lease reads; reads asked before the slots phase 1 re-proposed are chosen wait. */
  private readonly reads: ReadTracker;
  /** Unchosen commands by content hash, so a retransmitted proposal gets its slot back. */
  private proposed = new Map<number, number[]>();

  private readonly incoming = new SnapshotReceiver<{ index: number; membership: Membership; configs: PaxosSnapshot['extra']['configs'] }>();

  private msgs: PaxosMessage[] = [];
  private snapshotToPersist: PaxosSnapshot | undefined;
  private prevMeta: PaxosMeta;
  private prevSoft: SoftState;
  private readonly gate = new ReadyGate<{ records: Slot[]; committed: number; meta: PaxosMeta; soft: SoftState; led?: { ballot: Ballot; match: number } }>();
  /**
   * Leader only: the prefix this node's own acceptances at its ballot are durable up to. Its accepts
   * go out before it persists them (`Ready.sendBeforePersist`), so it counts itself toward a
   * majority only up to here (maybeCommit).
   */
  private durableMatch = 0;
  /**
   * What the driver has applied: moves at advance(). A snapshot installed from the leader moves the
   * log's applied index at once, but the driver applies it only with the next Ready.
   */
  private appliedByDriver = 0;
  /** With `trackDurableAccepts`: values known durable, in order, until a checker drains them. */
  readonly durableAccepts: Slot[] = [];

  constructor(options: PaxosOptions, durable?: PaxosDurableState) {
    this.id = options.id;
    this.random = options.random;
    this.opts = {
      heartbeatTicks: options.heartbeatTicks ?? DEFAULTS.heartbeatTicks,
      electionTicks: options.electionTicks ?? DEFAULTS.electionTicks,
      maxMsgBytes: options.maxMsgBytes ?? DEFAULTS.maxMsgBytes,
      maxInflightMsgs: options.maxInflightMsgs ?? DEFAULTS.maxInflightMsgs,
      maxInflightBytes: options.maxInflightBytes ?? DEFAULTS.maxInflightBytes,
      maxUncommittedBytes: options.maxUncommittedBytes ?? DEFAULTS.maxUncommittedBytes,
      snapshotChunkBytes: options.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes,
      snapshotTrailingEntries: options.snapshotTrailingEntries ?? DEFAULTS.snapshotTrailingEntries,
      leaseDriftTicks: options.leaseDriftTicks ?? DEFAULTS.leaseDriftTicks,
      window: options.window ?? DEFAULTS.window,
      maxBackoff: options.maxBackoff ?? DEFAULTS.maxBackoff,
      trackDurableAccepts: options.trackDurableAccepts ?? DEFAULTS.trackDurableAccepts,
    };
    if (this.opts.heartbeatTicks >= this.opts.electionTicks) throw new Error('heartbeatTicks must be below electionTicks');
    if (this.opts.window < 1) throw new Error('window must be at least 1');
    this.reads = new ReadTracker(this.opts);
    this.log = new PaxosLog(options.initialMembership, this.opts.window);
    this.restore(durable);
    this.appliedByDriver = this.log.applied;
    this.prevMeta = this.meta();
    this.becomeFollower(undefined);
    this.prevSoft = this.softState();
  }

  // ---------------------------------------------------------------- restart from durable state

  private restore(durable: PaxosDurableState | undefined): void {
    if (!durable) return;
    this.restartQuietTicks = this.opts.electionTicks;
    if (durable.snapshot) this.log.restore(durable.snapshot as PaxosSnapshot);
    this.log.unstable = [];
    // Records in write order: the last one for a slot is what the acceptor accepted there.
    const bySlot = new Map<number, Slot>();
    const promised = this.restoredPromise(durable);
    for (const r of durable.records) if (r.index > this.log.offset) bySlot.set(r.index, r);
    // Entries kept across a snapshot install are written again after it: first come the older ones.
    for (let i = this.log.offset + 1; bySlot.has(i) || i <= this.log.lastIndex(); i++) {
      const s = bySlot.get(i);
      if (!s) continue;
      if (i <= this.log.lastIndex()) this.log.entries[i - this.log.offset - 1] = s;
      else this.log.entries.push(s);
    }
    for (const i of bySlot.keys()) if (i > this.log.lastIndex()) throw new Error(`gap in the accepted slots on restore after ${this.log.lastIndex()}`);
    this.promised = promised;
    this.maxRound = promised.round;
    if (promised.node === this.id) this.ledRound = promised.round;
    const commit = Math.min(Math.max(durable.meta?.commit ?? 0, this.log.offset), this.log.lastIndex());
    this.log.commitTo(commit);
    this.matchIndex = this.log.committed;
    if (this.opts.trackDurableAccepts) this.durableAccepts.push(...this.log.entries);
  }

  /** The promise read back on restart; a test-only subclass forgets it to prove the checker notices. */
  protected restoredPromise(durable: PaxosDurableState): Ballot {
    // Records are written before meta: an accepted value implies a promise at least its ballot.
    let promised = durable.meta?.promised ?? ZERO_BALLOT;
    for (const r of durable.records) if (compareBallots(r.ballot, promised) > 0) promised = r.ballot;
    return promised;
  }

  // ---------------------------------------------------------------- public API

  tick(): void {
    this.guard();
    this.now++;
    if (this.restartQuietTicks > 0) this.restartQuietTicks--;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  step(m: PaxosMessage): void {
    this.guard();
    if (m.to !== this.id) return;
    if (m.ballot.round > this.maxRound) this.maxRound = m.ballot.round;
    switch (m.type) {
      case 'prePrepare':
        return this.handlePrePrepare(m);
      case 'prePrepareResp':
        return this.handlePrePrepareResp(m);
      case 'prepare':
        return this.handlePrepare(m);
      case 'promise':
        return this.handlePromise(m);
      case 'accept':
        return this.handleAccept(m);
      case 'heartbeat':
        return this.handleHeartbeat(m);
      case 'snap':
        return this.handleSnapshot(m);
      case 'timeoutNow':
        // The leader checked we are a voter; our chosen prefix may lag its own by a round trip, so
        // the latest configuration we know counts.
        if (sameBallot(m.ballot, this.promised) && this.role !== 'leader' && this.log.configs[this.log.configs.length - 1]!.membership.voters.includes(this.id)) this.campaign(true);
        return;
      case 'acceptResp':
      case 'heartbeatResp':
      case 'snapResp':
        return this.stepLeader(m);
    }
  }

  propose(data: Uint8Array): ProposeResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (this.leadTransferee !== undefined) return engineError('TRANSFERRING', `leadership is moving to ${this.leadTransferee}`, this.id);
    // A proposal retransmitted while its first copy is still unchosen gets the same slot.
    const h = hashBytes(data);
    for (const i of this.proposed.get(h) ?? []) {
      const e = this.log.entry(i);
      if (e && i > this.log.committed && e.kind === 'command' && sameBytes(e.data, data)) return { ok: true, index: i };
    }
    const index = this.appendAsLeader('command', data);
    if (index === undefined) return engineError('OVERLOADED', `more than ${this.opts.maxUncommittedBytes} unchosen bytes`, this.id);
    const list = this.proposed.get(h);
    if (list) list.push(index);
    else this.proposed.set(h, [index]);
    return { ok: true, index };
  }

  proposeMembership(change: MembershipChange): ProposeResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (this.leadTransferee !== undefined) return engineError('TRANSFERRING', `leadership is moving to ${this.leadTransferee}`, this.id);
    if (!this.ready4Reads()) return engineError('NOT_READY', 'the leader has not chosen the slots its phase 1 re-proposed yet', this.id);
    // One change at a time: the previous one chosen and in force.
    if (this.log.pendingMembershipIndex() > 0 || this.log.configs.some((c) => c.from > this.log.committed + 1)) {
      return engineError('MEMBERSHIP_PENDING', 'a membership change is not in force yet', this.id);
    }
    const current = this.log.configAt(this.log.committed + 1);
    const next = applyMembershipChange(current, change);
    if (typeof next === 'string') return engineError('INVALID_CHANGE', next, this.id);
    if (change.type === 'promote') {
      const pr = this.progress.get(change.node);
      if (!pr || pr.match < this.log.committed) {
        return engineError('NOT_CAUGHT_UP', `learner ${change.node} is at ${pr?.match ?? 0}, the chosen prefix is ${this.log.committed}`, this.id);
      }
    }
    const index = this.appendAsLeader('membership', utf8.encode(JSON.stringify(change)), next);
    if (index === undefined) return engineError('OVERLOADED', 'too many unchosen bytes', this.id);
    // The change decides slots from index + α: fill the window with no-ops so it is in force after
    // one round trip even when nothing else is proposed.
    for (let i = 1; i < this.opts.window; i++) this.appendAsLeader('noop', EMPTY, undefined, true);
    return { ok: true, index };
  }

  readIndex(ctx: string, opts: ReadOptions = {}): CallResult {
    this.guard();
    if (this.role !== 'leader') return engineError('NOT_LEADER', 'not the leader', this.leader);
    if (!this.ready4Reads()) {
      // The chosen prefix is known complete only once every slot phase 1 re-proposed is chosen.
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
    if (!this.log.configAt(this.log.committed + 1).voters.includes(to)) return engineError('INVALID_CHANGE', `${to} is not a voter`, this.id);
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    if (!pr) return engineError('INVALID_CHANGE', `${to} is not replicated to`, this.id);
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.nudge(to, pr);
    return { ok: true };
  }

  snapshotTaken(index: number, data: SnapshotBytes): PaxosSnapshot {
    this.guard();
    if (index > this.log.applied) throw new Error(`snapshot at ${index} beyond applied ${this.log.applied}`);
    const current = this.log.snapshot;
    if (current && index <= current.index) return current;
    if (index < this.log.offset) throw new Error(`snapshot at ${index}: slot compacted`);
    const snapshot: PaxosSnapshot = { index, membership: this.log.configAt(index + 1), extra: { configs: this.log.configsFrom(index + 1) }, data };
    this.log.snapshot = snapshot;
    this.log.compactTo(Math.max(this.log.offset, index - this.opts.snapshotTrailingEntries));
    return snapshot;
  }

  status(): EngineStatus {
    const s: EngineStatus = {
      id: this.id,
      role: this.role,
      leader: this.leader,
      epoch: this.epoch(),
      commitIndex: this.log.committed,
      appliedIndex: this.appliedByDriver,
      lastIndex: this.log.lastIndex(),
      membership: this.log.configAt(this.log.committed + 1),
    };
    if (this.role === 'leader') s.progress = progressReport(this.progress, this.id, this.log.lastIndex(), this.log.lastIndex());
    return s;
  }

  hasReady(): boolean {
    return (
      this.appendPending ||
      this.reads.roundPending ||
      this.msgs.length > 0 ||
      this.reads.hasStates ||
      this.snapshotToPersist !== undefined ||
      this.log.unstable.length > 0 ||
      this.log.committed > this.log.applied ||
      !sameMeta(this.meta(), this.prevMeta) ||
      !sameSoft(this.softState(), this.prevSoft)
    );
  }

  ready(): PaxosReady {
    this.guard();
    if (this.appendPending) {
      this.appendPending = false;
      if (this.role === 'leader') this.broadcastAccept();
    }
    if (this.reads.roundPending) {
      this.reads.roundPending = false;
      if (this.role === 'leader') {
        this.heartbeatElapsed = 0;
        this.broadcastHeartbeat();
      }
    }
    const meta = this.meta();
    const soft = this.softState();
    const committed = this.log.nextCommitted().map(toCommitted);
    const records = this.log.unstable;
    this.log.unstable = [];
    const { early, later } = this.splitOutgoing(meta);
    const rd: PaxosReady = { records, messages: later, committed, readStates: this.reads.takeStates() };
    if (early.length > 0) rd.sendBeforePersist = early;
    if (this.snapshotToPersist) rd.snapshot = this.snapshotToPersist;
    if (!sameMeta(meta, this.prevMeta)) rd.meta = meta;
    if (!sameSoft(soft, this.prevSoft)) rd.softState = soft;
    this.msgs = [];
    this.gate.handOut({ records, committed: this.log.committed, meta, soft, ...(this.role === 'leader' ? { led: { ballot: this.ballot, match: this.matchIndex } } : {}) });
    return rd;
  }

  /**
   * Which pending messages may go out before this Ready is persisted: the leader's accepts (with
   * the chosen notices among them) and heartbeats at its ballot, once its promise of that ballot
   * is durable (an earlier Ready carried it). They promise nothing about this node's disk: its own
   * acceptances count toward a majority only once durable (`durableMatch`). Promises, acceptance
   * answers, snapshot chunks and the rest wait for the persist.
   */
  private splitOutgoing(meta: PaxosMeta): { early: PaxosMessage[]; later: PaxosMessage[] } {
    if (this.role !== 'leader' || !sameBallot(meta.promised, this.prevMeta.promised)) return { early: [], later: this.msgs };
    return splitEarly(this.msgs, (m) => (m.type === 'accept' || m.type === 'heartbeat') && sameBallot(m.ballot, this.ballot));
  }

  advance(): void {
    const out = this.gate.take();
    if (out.committed > this.log.applied) this.log.applied = out.committed;
    this.appliedByDriver = this.log.applied;
    this.snapshotToPersist = undefined;
    this.prevMeta = out.meta;
    this.prevSoft = out.soft;
    if (this.opts.trackDurableAccepts) this.durableAccepts.push(...out.records);
    if (this.role === 'leader' && out.led && sameBallot(out.led.ballot, this.ballot)) {
      // Our acceptances in that Ready are durable now: they count, and acceptors hear of what that chose.
      this.durableMatch = Math.max(this.durableMatch, out.led.match);
      if (this.maybeCommit()) {
        this.broadcastAccept();
        this.broadcastChosen();
      }
    }
    // A leader removed from the configuration leaves once the change is in force (not while a
    // configuration that makes it a voter is still to come).
    if (this.role === 'leader' && !this.activeVoters().has(this.id)) this.becomeFollower(undefined);
  }

  // ---------------------------------------------------------------- roles

  private epoch(): number {
    return this.role === 'leader' || this.role === 'candidate' ? this.ballot.round : this.promised.round;
  }

  private becomeFollower(leader: NodeId | undefined): void {
    this.role = this.log.configAt(this.log.committed + 1).learners.includes(this.id) ? 'learner' : 'follower';
    this.leader = leader;
    this.phase1 = undefined;
    this.preVotes = new Map();
    this.transferCampaign = false;
    this.resetTimers();
    this.abandonLeaderState();
  }

  /** Preempted by a higher ballot: back off longer each time, by a random amount. */
  private preempted(): void {
    this.backoff = Math.min(this.backoff + 1, this.opts.maxBackoff);
    this.becomeFollower(undefined);
  }

  private abandonLeaderState(): void {
    this.leadTransferee = undefined;
    this.appendPending = false;
    this.reads.abandon();
    this.progress = new Map();
    this.uncommittedBytes = 0;
    this.proposed = new Map();
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    const span = this.opts.electionTicks * 2 ** this.backoff;
    this.randomizedElectionTimeout = this.opts.electionTicks + Math.floor(this.random() * span);
  }

  private promotable(): boolean {
    return this.log.configAt(this.log.committed + 1).voters.includes(this.id);
  }

  /** Every voter that decides an open slot (the phase-1 and lease quorums span them all). */
  private activeVoters(): Set<NodeId> {
    return votersOf(this.log.activeConfigs());
  }

  private members(): Set<NodeId> {
    const all = new Set<NodeId>([this.id]);
    for (const c of this.log.activeConfigs()) for (const v of [...c.voters, ...c.learners]) all.add(v);
    return all;
  }

  // ---------------------------------------------------------------- phase 1 (leader election)

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.prePrepare();
      return;
    }
    // A candidate asks again, every heartbeat interval, the acceptors that have not promised: a
    // prepare may be lost, and one refused for a rival of the same round may be granted now that
    // the rival gave up.
    const p = this.phase1;
    if (this.role === 'candidate' && p && this.electionElapsed % this.opts.heartbeatTicks === 0) {
      for (const id of this.phase1Voters()) {
        // An acceptor already answering (pages of its promise) is left to finish.
        if (id === this.id || p.done.has(id) || p.commits.has(id)) continue;
        p.refused.delete(id);
        this.msgs.push({ type: 'prepare', from: this.id, to: id, ballot: this.ballot, fromSlot: p.base + 1, commit: p.base, transfer: this.transferCampaign });
      }
    }
  }

  /** Asks whether a majority would promise, without anyone changing state (Raft's PreVote). */
  private prePrepare(): void {
    this.role = 'pre-candidate';
    this.leader = undefined;
    this.phase1 = undefined;
    this.resetTimers();
    this.prePrepareBallot = { round: Math.max(this.promised.round, this.maxRound) + 1, node: this.id };
    this.preVotes = new Map([[this.id, true]]);
    if (voteResult(this.log.activeConfigs(), this.preVotes) === 'won') return this.campaign(false);
    for (const id of this.activeVoters()) {
      if (id === this.id) continue;
      this.msgs.push({ type: 'prePrepare', from: this.id, to: id, ballot: this.prePrepareBallot, commit: this.log.committed, transfer: false });
    }
  }

  private handlePrePrepare(m: PrePrepareMsg): void {
    const grant =
      (m.transfer || !this.inLease()) &&
      m.ballot.round > this.promised.round &&
      m.commit >= this.log.offset &&
      this.log.configAt(this.log.committed + 1).voters.includes(this.id);
    this.msgs.push({ type: 'prePrepareResp', from: this.id, to: m.from, ballot: m.ballot, reject: !grant });
  }

  private handlePrePrepareResp(m: PrePrepareRespMsg): void {
    if (this.role !== 'pre-candidate' || !sameBallot(m.ballot, this.prePrepareBallot)) return;
    this.preVotes.set(m.from, !m.reject);
    const result = voteResult(this.log.activeConfigs(), this.preVotes);
    if (result === 'won') this.campaign(false);
    else if (result === 'lost') this.becomeFollower(undefined);
  }

  /** Phase 1a with a ballot above every round seen, for every slot after the chosen prefix. */
  private campaign(transfer: boolean): void {
    this.ballot = { round: Math.max(this.promised.round, this.maxRound) + 1, node: this.id };
    this.maxRound = this.ballot.round;
    // Our own promise, durable with the next Ready before any prepare goes out.
    this.promised = this.ballot;
    this.role = 'candidate';
    this.leader = undefined;
    this.transferCampaign = transfer;
    this.resetTimers();
    const base = this.log.committed;
    this.phase1 = { done: new Set([this.id]), refused: new Set(), asked: new Set(), commits: new Map(), adopted: new Map(), base };
    for (let i = base + 1; i <= this.log.lastIndex(); i++) {
      const s = this.log.entry(i)!;
      this.phase1.adopted.set(i, { slot: s, chosen: false });
    }
    if (this.phase1Won()) return this.becomeLeader();
    for (const id of this.phase1Voters()) {
      if (id === this.id) continue;
      this.phase1.asked.add(id);
      this.msgs.push({ type: 'prepare', from: this.id, to: id, ballot: this.ballot, fromSlot: base + 1, commit: base, transfer });
    }
  }

  /** The configurations deciding the slots phase 1 covers: known ones, and ones adopted values would establish. */
  private phase1Configs(): Membership[] {
    const p = this.phase1!;
    const configs = [this.log.configAt(p.base + 1), ...this.log.configs.filter((c) => c.from > p.base + 1).map((c) => c.membership)];
    for (const a of p.adopted.values()) if (a.slot.kind === 'membership' && a.slot.membership) configs.push(a.slot.membership);
    return configs;
  }

  private phase1Voters(): Set<NodeId> {
    return votersOf(this.phase1Configs());
  }

  private phase1Won(): boolean {
    const p = this.phase1!;
    return hasQuorum(this.phase1Configs(), (id) => p.done.has(id));
  }

  private handlePrepare(m: PrepareMsg): void {
    // While a leader is heard from, a prepare is a disruption (a paused or partitioned node
    // rejoining): ignored, unless the leader asked for it. It is also what makes the lease sound.
    if (!m.transfer && this.inLease() && m.from !== this.leader && !sameBallot(m.ballot, this.promised)) return;
    const reply = (o: { reject: boolean; behind?: boolean; entries?: Slot[]; done?: boolean }): void => {
      this.msgs.push({
        type: 'promise',
        from: this.id,
        to: m.from,
        ballot: m.ballot,
        reject: o.reject,
        behind: o.behind ?? false,
        promised: this.promised,
        commit: this.log.committed,
        fromSlot: m.fromSlot,
        entries: o.entries ?? [],
        done: o.done ?? true,
      });
    };
    if (!this.canPromise(m.ballot)) return reply({ reject: true });
    // Chosen slots we compacted cannot be reported: this proposer must catch up first.
    if (m.commit < this.log.offset) return reply({ reject: true, behind: true });
    if (!sameBallot(m.ballot, this.promised)) {
      this.promised = m.ballot;
      if (this.role === 'leader' || this.role === 'candidate' || this.role === 'pre-candidate') this.becomeFollower(undefined);
      else this.leader = undefined;
      this.electionElapsed = 0;
    }
    const entries = this.log.slice(m.fromSlot, this.log.lastIndex(), this.opts.maxMsgBytes);
    const lastSent = entries.length > 0 ? entries[entries.length - 1]!.index : m.fromSlot - 1;
    reply({ reject: false, entries, done: lastSent >= this.log.lastIndex() });
  }

  /**
   * Paxos needs only `ballot ≥ promised`; refusing a ballot of the promised round from another node
   * as well leaves at most one node able to win each round.
   */
  protected canPromise(b: Ballot): boolean {
    const c = compareBallots(b, this.promised);
    if (c === 0) return true;
    if (c < 0) return false;
    if (b.round > this.promised.round || b.node === this.promised.node) return true;
    // Our own ballot of this round, which we gave up before leading with it: it wins nothing, so a
    // rival of the same round may have our promise (a split vote resolves without a new round).
    return this.promised.node === this.id && this.role !== 'candidate' && this.role !== 'leader' && this.ledRound < this.promised.round;
  }

  private handlePromise(m: PromiseMsg): void {
    const p = this.phase1;
    if (this.role !== 'candidate' || !p || !sameBallot(m.ballot, this.ballot)) return;
    if (m.reject) {
      if (compareBallots(m.promised, this.ballot) > 0) return this.preempted();
      p.refused.add(m.from);
      if (!hasQuorum(this.phase1Configs(), (id) => !p.refused.has(id))) this.preempted();
      return;
    }
    p.commits.set(m.from, m.commit);
    for (const s of m.entries) {
      if (s.index <= p.base) continue;
      const chosen = s.index <= m.commit;
      const have = p.adopted.get(s.index);
      if (this.adopts(have, s, chosen)) p.adopted.set(s.index, { slot: s, chosen });
    }
    if (!m.done) {
      const last = m.entries.length > 0 ? m.entries[m.entries.length - 1]!.index : m.fromSlot;
      this.msgs.push({ type: 'prepare', from: this.id, to: m.from, ballot: this.ballot, fromSlot: last + 1, commit: p.base, transfer: this.transferCampaign });
      return;
    }
    p.done.add(m.from);
    if (this.phase1Won()) {
      this.becomeLeader();
      return;
    }
    // An adopted membership value may bring voters that were not asked yet.
    for (const id of this.phase1Voters()) {
      if (id === this.id || p.asked.has(id)) continue;
      p.asked.add(id);
      this.msgs.push({ type: 'prepare', from: this.id, to: id, ballot: this.ballot, fromSlot: p.base + 1, commit: p.base, transfer: this.transferCampaign });
    }
  }

  /**
   * The proposer keeps, per slot, a value known chosen or else the one accepted at the highest
   * ballot. A test-only subclass breaks the rule to prove the checker notices.
   */
  protected adopts(have: Adopted | undefined, reported: Slot, chosen: boolean): boolean {
    if (!have) return true;
    if (have.chosen) return false;
    return chosen || compareBallots(reported.ballot, have.slot.ballot) > 0;
  }

  /** Phase 1 won: every open slot gets the adopted value (a no-op in a gap), at our ballot. */
  private becomeLeader(): void {
    const p = this.phase1!;
    this.phase1 = undefined;
    this.role = 'leader';
    this.leader = this.id;
    this.ledRound = this.ballot.round;
    this.backoff = 0;
    this.resetTimers();
    this.abandonLeaderState();
    let maxSlot = this.log.lastIndex();
    for (const i of p.adopted.keys()) if (i > maxSlot) maxSlot = i;
    const from = this.log.committed + 1;
    for (let i = from; i <= maxSlot; i++) {
      const a = p.adopted.get(i);
      const slot: Slot = a ? { ...a.slot, ballot: this.ballot } : { index: i, ballot: this.ballot, kind: 'noop', data: EMPTY };
      this.log.put(slot);
      this.uncommittedBytes += slotBytes(slot);
      if (slot.kind === 'command') {
        const h = hashBytes(slot.data);
        const list = this.proposed.get(h);
        if (list) list.push(i);
        else this.proposed.set(h, [i]);
      }
    }
    this.phase1End = maxSlot;
    this.matchBallot = this.ballot;
    this.matchIndex = this.log.lastIndex();
    // Nothing is durable at the new ballot yet beyond what is known chosen.
    this.durableMatch = this.log.committed;
    for (const id of this.members()) {
      const learner = !this.activeVoters().has(id);
      const known = p.commits.get(id);
      this.progress.set(id, new Progress(Math.max(known ?? this.log.committed, 0) + 1, learner));
    }
    this.progress.get(this.id)!.match = this.log.lastIndex();
    this.reads.resetRounds();
    this.appendPending = true;
    this.maybeCommit();
  }

  private inLease(): boolean {
    if (this.electionElapsed >= this.opts.electionTicks) return false;
    return this.leader !== undefined || this.restartQuietTicks > 0;
  }

  // ---------------------------------------------------------------- acceptor (phase 2b) and learner

  /** A message from a proposer at `b` ≥ our promise: follow it. */
  private follow(b: Ballot): void {
    if (compareBallots(b, this.promised) > 0) this.promised = b;
    if (this.role !== 'follower' && this.role !== 'learner') this.becomeFollower(b.node);
    else if (this.leader !== b.node) {
      this.leader = b.node;
    }
    this.electionElapsed = 0;
    this.backoff = 0;
    if (!sameBallot(this.matchBallot, b)) {
      this.matchBallot = b;
      this.matchIndex = this.log.committed;
    }
  }

  /** Accepts are checked against the promise; a test-only subclass skips the check. */
  protected acceptable(b: Ballot): boolean {
    return compareBallots(b, this.promised) >= 0;
  }

  private handleAccept(m: AcceptMsg): void {
    if (!this.acceptable(m.ballot)) {
      this.msgs.push({ type: 'acceptResp', from: this.id, to: m.from, ballot: m.ballot, reject: true, index: 0, promised: this.promised });
      return;
    }
    this.follow(m.ballot);
    if (m.prevIndex > this.matchIndex) {
      this.msgs.push({ type: 'acceptResp', from: this.id, to: m.from, ballot: m.ballot, reject: true, index: this.matchIndex, promised: this.promised });
      return;
    }
    for (const s of m.entries) {
      if (s.index <= this.matchIndex) continue;
      if (s.index !== this.matchIndex + 1) break;
      if (s.index > this.log.offset) {
        const mine = this.log.entry(s.index);
        if (!mine || !sameBallot(mine.ballot, m.ballot) || mine.kind !== s.kind || !sameBytes(mine.data, s.data)) this.log.put({ ...s, ballot: m.ballot });
      }
      this.matchIndex = s.index;
    }
    this.learnCommit(Math.min(m.commit, this.matchIndex));
    if (m.notice) return;
    this.msgs.push({ type: 'acceptResp', from: this.id, to: m.from, ballot: m.ballot, reject: false, index: this.matchIndex, promised: this.promised });
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    if (compareBallots(m.ballot, this.promised) < 0) {
      this.msgs.push({ type: 'heartbeatResp', from: this.id, to: m.from, ballot: m.ballot, reject: true, readRound: 0, index: 0, promised: this.promised });
      return;
    }
    this.follow(m.ballot);
    this.learnCommit(Math.min(m.commit, this.matchIndex));
    this.msgs.push({ type: 'heartbeatResp', from: this.id, to: m.from, ballot: m.ballot, reject: false, readRound: m.readRound, index: this.matchIndex, promised: this.promised });
  }

  /** Slots up to `index` are chosen: our prefix at the leader's ballot holds the leader's values. */
  private learnCommit(index: number): void {
    if (index <= this.log.committed) return;
    const before = this.log.configAt(this.log.committed + 1);
    this.log.commitTo(index);
    if (this.log.configAt(this.log.committed + 1) !== before) this.refreshRole();
  }

  private refreshRole(): void {
    if (this.role === 'follower' || this.role === 'learner') this.role = this.log.configAt(this.log.committed + 1).learners.includes(this.id) ? 'learner' : 'follower';
  }

  // ---------------------------------------------------------------- the leader (phase 2a)

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTicks) {
      this.electionElapsed = 0;
      // A leader that has not heard from a quorum steps down (it may be cut off).
      const active = (id: NodeId) => id === this.id || this.progress.get(id)?.recentActive === true;
      const ok = hasQuorum(this.log.activeConfigs(), active);
      for (const pr of this.progress.values()) pr.recentActive = false;
      if (!ok) {
        this.becomeFollower(undefined);
        return;
      }
      this.leadTransferee = undefined;
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private stepLeader(m: AcceptRespMsg | HeartbeatRespMsg | SnapshotRespMsg): void {
    if (this.role !== 'leader' || !sameBallot(m.ballot, this.ballot)) return;
    if ((m.type === 'acceptResp' || m.type === 'heartbeatResp') && m.reject && compareBallots(m.promised, this.ballot) > 0) {
      this.preempted();
      return;
    }
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    switch (m.type) {
      case 'acceptResp':
        return this.handleAcceptResp(m, pr);
      case 'heartbeatResp':
        return this.handleHeartbeatResp(m, pr);
      case 'snapResp':
        return this.handleSnapshotResp(m, pr);
    }
  }

  private appendAsLeader(kind: SlotKind, data: Uint8Array, membership?: Membership, force = false): number | undefined {
    const s: Slot = { index: this.log.lastIndex() + 1, ballot: this.ballot, kind, data };
    if (membership) s.membership = membership;
    const bytes = slotBytes(s);
    if (!force && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.opts.maxUncommittedBytes) return undefined;
    this.uncommittedBytes += bytes;
    this.log.put(s);
    this.matchIndex = s.index;
    this.progress.get(this.id)!.match = s.index;
    this.maybeCommit();
    this.appendPending = true;
    return s.index;
  }

  private broadcastAccept(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAccept(id);
  }

  /**
   * After the chosen prefix grew: tell every acceptor that got no accept carrying it, so replicas
   * apply (and serve watches and stale reads) now rather than at the next heartbeat. An empty accept
   * at the acceptor's known prefix end: never refused by an acceptor that follows us, no in-flight slot.
   */
  private broadcastChosen(): void {
    for (const [id, pr] of this.progress) if (id !== this.id) this.sendChosen(id, pr);
  }

  private sendChosen(to: NodeId, pr: Progress): void {
    if (pr.state !== 'replicate') return;
    const target = Math.min(this.log.committed, pr.match);
    if (target <= pr.commitSent || pr.match <= this.log.offset) return;
    this.msgs.push({ type: 'accept', from: this.id, to, ballot: this.ballot, prevIndex: pr.match, entries: [], commit: this.log.committed, notice: true });
    pr.commitSent = target;
  }

  private broadcastHeartbeat(): void {
    const readRound = this.reads.newRound(this.now);
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      const commit = Math.min(pr.match, this.log.committed);
      this.msgs.push({ type: 'heartbeat', from: this.id, to: id, ballot: this.ballot, commit, readRound });
      pr.commitSent = Math.max(pr.commitSent, commit);
      if (chunkUnanswered(pr)) this.sendSnapshotChunk(id, pr);
    }
    this.releaseReads();
  }

  /** The last slot the leader may send: its configuration must be known (α window). */
  private windowEnd(): number {
    return Math.min(this.log.lastIndex(), this.log.committed + this.opts.window);
  }

  private sendAccept(to: NodeId): void {
    const pr = this.progress.get(to);
    if (!pr) return;
    for (;;) {
      if (pr.paused(this.opts.maxInflightMsgs, this.opts.maxInflightBytes)) return;
      if (pr.next <= this.log.offset) {
        this.startSnapshot(to, pr);
        return;
      }
      const prevIndex = pr.next - 1;
      const hi = this.windowEnd();
      const entries = pr.next <= hi ? this.log.slice(pr.next, hi, this.opts.maxMsgBytes) : [];
      if (entries.length === 0 && pr.state === 'replicate') return;
      this.msgs.push({ type: 'accept', from: this.id, to, ballot: this.ballot, prevIndex, entries, commit: this.log.committed });
      if (!pr.sentAppend(prevIndex, entries.length, entries.reduce((n, e) => n + slotBytes(e), 0), this.log.committed)) return;
    }
  }

  private handleAcceptResp(m: AcceptRespMsg, pr: Progress): void {
    if (m.reject) {
      if (pr.gapAt(m.index)) this.sendAccept(m.from);
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    // The acceptor answered: its position is known, so pipelining may start.
    pr.probeSent = false;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex) pr.becomeProbe();
    if (updated && this.maybeCommit()) {
      this.broadcastAccept();
      this.broadcastChosen();
    } else {
      this.sendAccept(m.from);
      this.sendChosen(m.from, pr);
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: m.from });
  }

  private nudge(to: NodeId, pr: Progress): void {
    if (pr.state === 'probe') {
      pr.probeSent = false;
      this.sendAccept(to);
    } else if (pr.state === 'replicate') {
      if (pr.next - 1 < this.log.offset) this.startSnapshot(to, pr);
      else this.msgs.push({ type: 'accept', from: this.id, to, ballot: this.ballot, prevIndex: pr.next - 1, entries: [], commit: this.log.committed });
    }
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg, pr: Progress): void {
    if (m.readRound > pr.ackRound) pr.ackRound = m.readRound;
    // A timeoutNow may have been lost: the transfer target caught up is told again.
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: m.from });
    if (pr.match < this.log.lastIndex()) {
      this.nudge(m.from, pr);
    }
    this.releaseReads();
  }

  /**
   * Chooses slots in order: slot s is chosen once a majority of the configuration deciding it
   * accepted it at our ballot. Every slot after the chosen prefix holds our ballot's value.
   */
  protected maybeCommit(): boolean {
    const before = this.log.committed;
    const last = this.log.lastIndex();
    for (;;) {
      const s = this.log.committed + 1;
      if (s > last) break;
      const voters = this.log.configAt(s).voters;
      if (voters.length === 0) break;
      // Our own acceptances count only once durable (they went out before the persist).
      const self = Math.min(this.matchIndex, this.durableMatch);
      const q = majorityValue(voters, (id) => (id === this.id ? self : (this.progress.get(id)?.match ?? 0)));
      if (q < s) break;
      // Up to the next configuration boundary at most: past it the quorum may differ.
      const boundary = this.log.configs.find((c) => c.from > s)?.from ?? Infinity;
      this.log.commitTo(Math.min(q, boundary - 1, last));
    }
    if (this.log.committed === before) return false;
    for (let i = before + 1; i <= this.log.committed; i++) {
      const e = this.log.entry(i);
      if (e) this.uncommittedBytes -= slotBytes(e);
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    for (const [h, list] of this.proposed) {
      const left = list.filter((i) => i > this.log.committed);
      if (left.length === 0) this.proposed.delete(h);
      else if (left.length !== list.length) this.proposed.set(h, left);
    }
    // New voters of a configuration now in force get progress; removed members lose it.
    const members = this.members();
    for (const id of members) {
      if (!this.progress.has(id)) this.progress.set(id, new Progress(this.log.committed + 1, !this.activeVoters().has(id)));
    }
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    if (before < this.phase1End && this.ready4Reads()) this.reads.startWaiting((ctx, mode) => this.startRead(ctx, mode));
    return true;
  }

  private ready4Reads(): boolean {
    return this.log.committed >= this.phase1End;
  }

  // ---------------------------------------------------------------- linearizable reads

  private startRead(ctx: string, mode: ReadOptions['mode']): void {
    const voters = this.activeVoters();
    const sole = voters.size === 1 && voters.has(this.id);
    this.reads.request(ctx, this.log.committed, sole || (mode === 'lease' && this.leaseValid()));
  }

  private readonly ackRound = (id: NodeId): number => this.progress.get(id)?.ackRound ?? 0;

  /** Reads whose round a majority of every active configuration acknowledged are served. */
  private releaseReads(): void {
    this.reads.release(this.log.activeConfigs(), this.id, this.ackRound);
  }

  /**
   * The leader lease over every active configuration (ReadTracker.leaseValid): those acceptors
   * ignore prepares for `electionTicks` after hearing from us. Not during a transfer (the target's
   * prepare passes).
   */
  protected leaseValid(): boolean {
    return this.leadTransferee === undefined && this.reads.leaseValid(this.now, this.log.activeConfigs(), this.id, this.ackRound);
  }

  // ---------------------------------------------------------------- snapshots, chunked

  private startSnapshot(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot;
    if (!snap) throw new Error(`acceptor ${to} needs compacted slots but there is no snapshot`);
    pr.becomeSnapshot(snap.index);
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot;
    if (!snap) return;
    const c = nextChunk(snap, pr, this.opts.snapshotChunkBytes);
    const snapshot = { index: snap.index, membership: snap.membership, configs: snap.extra.configs, size: c.size };
    this.msgs.push({ type: 'snap', from: this.id, to, ballot: this.ballot, snapshot, offset: c.offset, data: c.data, done: c.done });
  }

  private handleSnapshotResp(m: SnapshotRespMsg, pr: Progress): void {
    const answer = snapshotAnswered(pr, m);
    if (answer === 'installed') this.sendAccept(m.from);
    else if (answer === 'next') this.sendSnapshotChunk(m.from, pr);
  }

  private handleSnapshot(m: SnapshotMsg): void {
    if (compareBallots(m.ballot, this.promised) < 0) {
      this.msgs.push({ type: 'heartbeatResp', from: this.id, to: m.from, ballot: m.ballot, reject: true, readRound: 0, index: 0, promised: this.promised });
      return;
    }
    this.follow(m.ballot);
    const s = m.snapshot;
    const reply = (a: { next: number; done: boolean; reject: boolean }): void => {
      this.msgs.push({ type: 'snapResp', from: this.id, to: m.from, ballot: m.ballot, index: s.index, ...a });
    };
    if (s.index <= this.log.committed) {
      this.incoming.reset();
      return reply({ next: s.size, done: true, reject: false });
    }
    const { complete, ...answer } = this.incoming.receive(String(s.index), s, { offset: m.offset, data: m.data, done: m.done, size: s.size });
    if (complete) {
      const snapshot: PaxosSnapshot = { index: s.index, membership: complete.meta.membership, extra: { configs: complete.meta.configs }, data: complete.data };
      this.log.restore(snapshot);
      this.snapshotToPersist = snapshot;
      this.matchIndex = s.index;
      this.refreshRole();
    }
    reply(answer);
  }

  // ---------------------------------------------------------------- helpers

  private send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, ballot: this.role === 'leader' ? this.ballot : this.promised } as PaxosMessage);
  }

  private meta(): PaxosMeta {
    return { promised: this.promised, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, epoch: this.epoch() };
  }

  private guard(): void {
    this.gate.guard();
  }
}

function sameMeta(a: PaxosMeta, b: PaxosMeta): boolean {
  return sameBallot(a.promised, b.promised) && a.commit === b.commit;
}
