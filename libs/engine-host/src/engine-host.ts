import {
  sameBytes,
  snapshotBytes,
  type Addressed,
  type CommittedEntry,
  type ConsensusEngine,
  type EngineError,
  type EngineStatus,
  type MembershipChange,
  type NodeId,
  type ReadOptions,
  type Ready,
  type ReplicationHints,
  type Snapshot,
  type SnapshotBytes,
} from '@synod/replog';
import { SynodError } from '@synod/protocol';
import { systemClock, type Clock } from './clock.js';
import { LeaseDeadlines, type LeaseTable } from './leases.js';
import { NoticeHold } from './notice-hold.js';
import { ThriftySender } from './thrifty.js';

/** The host's logger: pino's, or anything shaped like it. */
export interface HostLogger {
  child(bindings: Record<string, unknown>): HostLogger;
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}

/** What the host needs from the replicated state machine. */
export interface StateMachine<R> {
  /** Applies one committed entry (commands, no-ops and membership entries, in index order). */
  apply(entry: CommittedEntry): R;
  /**
   * Captures the state at the last applied entry, cheaply; `chunks()` encodes it later, in pieces,
   * while applying goes on (so a large state is written out without stopping the replica).
   */
  beginSnapshot(): { chunks(): Iterable<Uint8Array> };
  restore(data: Uint8Array, index: number): void;
}

/** An engine's durable state (libs/wal's EngineWalStorage in a replica, a virtual disk in the simulator). */
export interface EngineStorage<Msg, Rec, Meta> {
  /**
   * Step 1 of the Ready contract: snapshot, records, then meta, each durable before the next.
   * Returns undefined when the Ready holds nothing that must be written (no await needed).
   */
  persist(rd: Pick<Ready<Msg, Rec, Meta>, 'snapshot' | 'records' | 'meta'>): Promise<void> | undefined;
  /** Starts writing a snapshot the state machine takes at `index`. */
  beginLocalSnapshot(index: number): Promise<LocalSnapshotWriter>;
}

/** A snapshot the state machine writes in pieces while the replica goes on. */
export interface LocalSnapshotWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** The bytes written so far (hand them to the engine's snapshotTaken). */
  data(): SnapshotBytes;
  /** Makes it durable with the engine's metadata; the bytes `data()` gave are the snapshot's from then on. */
  commit(snapshot: Snapshot): Promise<void>;
  /** Drops it (and what `data()` gave, unless `commit` was called). */
  abort(): Promise<void>;
}

/** What the store's API needs from the host, whichever engine runs underneath. */
export interface ReplicaHost<R> {
  propose(data: Uint8Array): Promise<{ index: number; result: R }>;
  readBarrier(mode: NonNullable<ReadOptions['mode']>): Promise<void>;
  proposeMembership(change: MembershipChange): Promise<{ index: number }>;
  transferLeadership(to: NodeId): Promise<void>;
  status(): EngineStatus;
  /** Once this replica is confirmed leader, lease `id` lives one TTL from now (HostOptions.leases). */
  leaseKeepAlive(id: number): Promise<{ id: number; ttlMs: number }>;
  /** Lease `id`'s TTL and what is left of it, as the confirmed leader keeps it. */
  leaseTimeToLive(id: number): Promise<{ id: number; ttlMs: number; remainingMs: number }>;
}

/**
 * The state machine's leases, as the host keeps their deadlines: the leader holds one per live lease
 * on the host's clock (LeaseDeadlines), extends every lease to a full TTL when it starts to lead,
 * moves one on at each keep-alive it confirmed, and on each tick proposes the expiry of those whose
 * deadline passed.
 */
export interface HostLeases {
  /** The replicated lease table as applied here (a restored snapshot may replace it). */
  table(): LeaseTable;
  /** The log command that expires these leases. */
  expireCommand(ids: number[]): Uint8Array;
  /** Most leases one expiry command names. */
  maxPerExpiry: number;
}

export interface HostOptions<Msg extends Addressed, Rec, Meta, R> {
  engine: ConsensusEngine<Msg, Rec, Meta>;
  storage: EngineStorage<Msg, Rec, Meta>;
  sm: StateMachine<R>;
  /** The transport: sends peer messages (fire and forget: engines tolerate loss). */
  send: (messages: Msg[]) => void;
  /** How the engine's replication messages are read (thrifty replication, held commit notices). */
  hints: ReplicationHints<Msg>;
  log: HostLogger;
  /**
   * Told of the steps of a write's persist (`persist` as the write starts, `persisted` when it is
   * durable), for profiling tools; a replica publishes them on its phases channel when someone listens.
   */
  onPhase?: (step: 'persist' | 'persisted') => void;
  /** Time and timers (default: the process's). */
  clock?: Clock;
  /**
   * The loop failed (a failed fsync, a broken invariant): the replica must not go on as if nothing
   * happened. Pending requests are refused before this is called.
   */
  onFatal: (err: Error) => void;
  /** Name of the engine, for logs. */
  engineName: string;
  /** Milliseconds per engine tick. */
  tickMs: number;
  /** Take a snapshot after this many applied entries (written in the background, one at a time)... */
  snapshotEvery: number;
  /**
   * ...and once the entries applied since the last snapshot hold at least this fraction of its size
   * (0: no such condition). Bounds the work snapshots cost per byte written (at most 1/ratio bytes
   * of snapshot per byte of log) while the in-memory log stays within that fraction of the state.
   */
  snapshotLogRatio?: number;
  /** Size of the snapshot the replica started from, if any. */
  initialSnapshotBytes?: number;
  /** Told when this node gains or loses leadership (and on every leader change it sees). */
  onRoleChange?: (role: string, leader: NodeId | undefined, term: number) => void;
  /** Told after each batch of entries is applied (watchers, lease bookkeeping). */
  onApplied?: (index: number) => void;
  /** Told when a local snapshot is durable: its size and how long writing it took (for metrics). */
  onSnapshotTaken?: (s: { bytes: number; ms: number }) => void;
  /**
   * How long a leader holds a commit notice back in case its next append carries the commit
   * instead (see NoticeHold); 0 sends each at once. Default 5 ms.
   */
  commitNoticeDelayMs?: number;
  /**
   * Thrifty replication (see ThriftySender): a leader's appends to the followers a quorum does not
   * need are held up to `holdMs` (0: off) and sent in batches.
   */
  thrifty?: { holdMs: number; hedgeMinMs: number };
  /** The state machine's leases, whose deadlines the leader keeps (none: no lease keeping). */
  leases?: HostLeases;
  /**
   * Test-only: breaks one rule of the Ready contract, so the simulator's broken-rules tests prove it
   * notices. Never set in a replica.
   * - `ack-before-persist`: every message goes out before the persist (a follower acknowledges
   *   entries it may yet lose);
   * - `apply-past-commit`: entries are applied as soon as they are persisted, before they commit
   *   (`entryOf` reads a record's entry);
   * - `lease-stale-deadlines`: a re-elected leader goes on with the lease deadlines of its previous
   *   term instead of giving every lease a full TTL (it may expire a lease another leader extended).
   */
  brokenRule?: { rule: 'ack-before-persist' } | { rule: 'apply-past-commit'; entryOf: (r: Rec) => CommittedEntry } | { rule: 'lease-stale-deadlines' };
}

/** What the driver counts, for a replica's metrics (read at scrape time; never reset). */
export interface HostStats {
  /** Times a leader different from the last one known was seen (this node's own elections included). */
  leaderChanges: number;
  /**
   * Proposals that did not commit, by reason: the engine's refusal code (`NOT_LEADER`,
   * `OVERLOADED`, `TRANSFERRING`, ...), `LOST` (another leader's entry took its index),
   * `SHUTTING_DOWN`, or `INTERNAL` (the loop failed).
   */
  proposalsFailed: Map<string, number>;
}

interface PendingProposal<R> {
  data: Uint8Array;
  resolve: (r: { index: number; result: R }) => void;
  reject: (e: SynodError, reason?: string) => void;
}

/**
 * Runs a consensus engine (Raft, Multi-Paxos, any behind libs/replog's interface) for a replica:
 * feeds it ticks (by elapsed monotonic time, so a process resumed after a pause first catches up
 * the ticks it owes), peer messages and client requests, and carries out each Ready as the contract
 * says: send what may go first (a leader's appends), persist (awaited, fsync'ed), send the rest,
 * apply, release reads, advance. Work arriving while a Ready is being persisted waits for the next
 * one, so many proposals share one fsync (group commit at the engine level). Snapshots are written
 * in the background.
 *
 * Time, the transport and storage are injected: a replica wires them to the process clock, NATS and
 * the WAL; the simulator to its virtual clock, network and disk, so the code that ships is the code
 * that is simulated.
 */
export class EngineHost<Msg extends Addressed, Rec, Meta, R> implements ReplicaHost<R> {
  private readonly clock: Clock;
  private lastTick: number;
  private inbox: Msg[] = [];
  private actions: (() => void)[] = [];
  private running = false;
  private stopped = false;
  private timer: unknown;
  /** By index; an engine may give a retransmitted proposal the index of its first copy. */
  private readonly proposals = new Map<number, PendingProposal<R>[]>();
  private readonly reads = new Map<string, { index?: number; resolve: () => void; reject: (e: SynodError) => void }>();
  private readSeq = 0;
  private appliedSinceSnapshot = 0;
  /** Bytes of the entries applied since the last snapshot, and the size of that snapshot. */
  private bytesSinceSnapshot = 0;
  private lastSnapshotBytes: number;
  /** The snapshot being written in the background, if any. */
  private snapshotting: Promise<void> | undefined;
  /** Index of the last snapshot installed from the leader: a local one at or below it is moot. */
  private installedIndex = 0;
  private failed: Error | undefined;
  private readonly log: HostLogger;
  /** Every message leaves through here (commit notices may wait for a message that carries them). */
  private readonly out: NoticeHold<Msg>;
  private readonly thrifty: ThriftySender<Msg> | undefined;
  private leading = false;
  /** The epoch this replica last started to lead in. */
  private ledEpoch = -1;
  /** The leader's lease deadlines (with HostOptions.leases). */
  private readonly leaseDeadlines: LeaseDeadlines | undefined;
  /** An expiry proposed and not yet answered: the next waits for it. */
  private expiring = false;
  /** Index of the last entry applied to the state machine (or of the snapshot it was restored from). */
  private applied: number;
  private lastLeader: NodeId | undefined;
  private readonly counts: HostStats = { leaderChanges: 0, proposalsFailed: new Map() };

  constructor(private readonly o: HostOptions<Msg, Rec, Meta, R>) {
    this.clock = o.clock ?? systemClock;
    this.lastSnapshotBytes = o.initialSnapshotBytes ?? 0;
    this.lastTick = this.clock.now();
    this.log = o.log.child({ component: o.engineName });
    const t = o.thrifty;
    this.thrifty = t && t.holdMs > 0 ? new ThriftySender({ out: o.send, hints: o.hints, holdMs: t.holdMs, hedgeMinMs: t.hedgeMinMs, clock: this.clock }) : undefined;
    const thrifty = this.thrifty;
    this.out = new NoticeHold(thrifty ? (m) => thrifty.send(m) : o.send, o.commitNoticeDelayMs ?? 5, o.hints, this.clock);
    const status = o.engine.status();
    this.applied = status.appliedIndex;
    this.lastLeader = status.leader;
    if (o.leases) this.leaseDeadlines = new LeaseDeadlines(() => this.clock.now(), o.brokenRule?.rule === 'lease-stale-deadlines');
  }

  /** Leader changes and failed proposals so far. */
  get stats(): Readonly<HostStats> {
    return this.counts;
  }

  /** Index of the last entry applied to the state machine (kept by the driver: status() is costly). */
  get appliedIndex(): number {
    return this.applied;
  }

  /** Size in bytes of the newest snapshot: taken here, installed from the leader, or started from. */
  get snapshotBytes(): number {
    return this.lastSnapshotBytes;
  }

  /** True while the loop works through a Ready (the simulator waits for it to settle). */
  get busy(): boolean {
    return this.running;
  }

  /** Thrifty replication: appends held, batches sent after their hold, hedges (zeros when off). */
  get thriftyStats(): { held: number; flushed: number; hedges: number } {
    return this.thrifty?.stats ?? { held: 0, flushed: 0, hedges: 0 };
  }

  /** Commit notices held back and sent, and those a later append made needless. */
  get noticeStats(): { sent: number; dropped: number } {
    return this.out.stats;
  }

  get engine(): ConsensusEngine<Msg, Rec, Meta> {
    return this.o.engine;
  }

  start(): void {
    this.armTick();
    this.kick();
  }

  private armTick(): void {
    this.timer = this.clock.setTimer(() => {
      this.armTick();
      this.kick();
      this.expireLeases();
    }, this.o.tickMs);
  }

  /** Stops ticking and taking work; pending requests are refused. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimer(this.timer);
    this.out.stop();
    this.thrifty?.stop();
    while (this.running) await new Promise((r) => this.clock.setTimer(() => r(undefined), 5));
    await this.snapshotting;
    for (const ps of this.proposals.values()) for (const p of ps) p.reject(new SynodError('SHUTTING_DOWN', 'the replica is stopping'));
    for (const r of this.reads.values()) r.reject(new SynodError('SHUTTING_DOWN', 'the replica is stopping'));
    this.proposals.clear();
    this.reads.clear();
  }

  /** A peer message arrived. */
  receive(m: Msg): void {
    if (this.stopped) return;
    this.thrifty?.observe(m);
    this.inbox.push(m);
    this.kick();
  }

  /** Proposes a command; resolves once it is committed and applied here, with the state machine's answer. */
  propose(data: Uint8Array): Promise<{ index: number; result: R }> {
    return new Promise((resolve, refuse) => {
      const reject = this.counted(refuse);
      this.enqueue(() => {
        const r = this.o.engine.propose(data);
        if (!r.ok) return reject(engineToSynod(r), r.code);
        this.addProposal(r.index, { data, resolve, reject });
      }, reject);
    });
  }

  /** Resolves when a read at this moment is linearizable (the barrier is applied here). */
  readBarrier(mode: NonNullable<ReadOptions['mode']>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        const ctx = `r${++this.readSeq}`;
        const r = this.o.engine.readIndex(ctx, { mode });
        if (!r.ok) return reject(engineToSynod(r));
        this.reads.set(ctx, { resolve, reject });
      }, reject);
    });
  }

  proposeMembership(change: MembershipChange): Promise<{ index: number }> {
    return new Promise((resolve, refuse) => {
      const reject = this.counted(refuse);
      this.enqueue(() => {
        const r = this.o.engine.proposeMembership(change);
        if (!r.ok) return reject(engineToSynod(r), r.code);
        this.addProposal(r.index, { data: new Uint8Array(0), resolve: ({ index }) => resolve({ index }), reject });
      }, reject);
    });
  }

  transferLeadership(to: NodeId): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enqueue(() => {
        const r = this.o.engine.transferLeadership(to);
        if (!r.ok) return reject(engineToSynod(r));
        resolve();
      }, reject);
    });
  }

  status(): EngineStatus {
    return this.o.engine.status();
  }

  /** `reject`, counting the failure under `reason` (by default the error's code). */
  private counted(reject: (e: SynodError) => void): (e: SynodError, reason?: string) => void {
    return (e, reason) => {
      const why = reason ?? e.code;
      this.counts.proposalsFailed.set(why, (this.counts.proposalsFailed.get(why) ?? 0) + 1);
      reject(e);
    };
  }

  async leaseKeepAlive(id: number): Promise<{ id: number; ttlMs: number }> {
    const { ttlMs, deadlines } = await this.confirmedLease(id);
    // Past its deadline, the lease is being expired (as etcd's lessor refuses such a renewal).
    if (deadlines.passed(id)) throw new SynodError('LEASE_NOT_FOUND', `lease ${id} expired`);
    deadlines.keepAlive(id, ttlMs);
    return { id, ttlMs };
  }

  async leaseTimeToLive(id: number): Promise<{ id: number; ttlMs: number; remainingMs: number }> {
    const { ttlMs, deadlines } = await this.confirmedLease(id);
    return { id, ttlMs, remainingMs: deadlines.remainingMs(id, ttlMs) };
  }

  /** Lease `id` as this replica knows it once confirmed leader (a lease read barrier). */
  private async confirmedLease(id: number): Promise<{ ttlMs: number; deadlines: LeaseDeadlines }> {
    const deadlines = this.leaseDeadlines;
    if (!deadlines || !this.o.leases) throw new SynodError('BAD_REQUEST', 'this replica keeps no leases');
    await this.readBarrier('lease');
    // Leadership lost between the confirmation and here: an extension now would be nobody's promise.
    if (!this.leading) throw new SynodError('NOT_LEADER', `${this.o.engine.id} is not the leader`, { details: { leader: this.o.engine.status().leader ?? null } });
    const lease = this.o.leases.table().lease(id);
    if (!lease) throw new SynodError('LEASE_NOT_FOUND', `lease ${id} does not exist`);
    return { ttlMs: lease.ttlMs, deadlines };
  }

  /**
   * On each tick, a leader proposes the expiry of the leases whose deadline it saw pass (one command
   * at a time). A deposed leader that has not heard of it yet (a process resumed from a pause) may
   * propose too: its entry is in its old epoch and never commits.
   */
  private expireLeases(): void {
    const l = this.o.leases;
    if (!l || !this.leaseDeadlines || !this.leading || this.expiring || this.stopped || this.failed) return;
    const ids = this.leaseDeadlines.expired(l.maxPerExpiry);
    if (ids.length === 0) return;
    this.expiring = true;
    this.propose(l.expireCommand(ids))
      .catch((err: unknown) => this.log.info({ err, leases: ids.length }, 'lease expiry not committed; the next tick tries again'))
      .finally(() => {
        this.expiring = false;
      });
  }

  private addProposal(index: number, p: PendingProposal<R>): void {
    const waiting = this.proposals.get(index);
    if (waiting) waiting.push(p);
    else this.proposals.set(index, [p]);
  }

  private enqueue(action: () => void, reject: (e: SynodError) => void): void {
    if (this.stopped) return reject(new SynodError('SHUTTING_DOWN', 'the replica is stopping'));
    if (this.failed) return reject(new SynodError('INTERNAL', `the replica failed: ${this.failed.message}`));
    this.actions.push(action);
    this.kick();
  }

  private kick(): void {
    if (this.running || this.stopped || this.failed) return;
    this.running = true;
    void this.loop()
      .catch((err: unknown) => {
        // A failed fsync or a broken invariant: the replica must not go on as if nothing happened.
        const failed = (this.failed = err instanceof Error ? err : new Error(String(err)));
        this.log.fatal({ err }, `${this.o.engineName} loop failed; refusing further work`);
        for (const ps of this.proposals.values()) for (const p of ps) p.reject(new SynodError('INTERNAL', 'the replica failed'));
        for (const r of this.reads.values()) r.reject(new SynodError('INTERNAL', 'the replica failed'));
        this.proposals.clear();
        this.reads.clear();
        this.o.onFatal(failed);
      })
      .finally(() => {
        this.running = false;
        // Work that arrived between the loop's last look and this point would otherwise wait for
        // the next tick: a lost wake-up.
        if (this.inbox.length > 0 || this.actions.length > 0) this.kick();
      });
  }

  private async loop(): Promise<void> {
    const node = this.o.engine;
    const broken = this.o.brokenRule;
    for (;;) {
      // Ticks owed by elapsed time come first: after a pause, the lease and CheckQuorum must see
      // that time passed before any message or request is handled.
      const owed = Math.floor((this.clock.now() - this.lastTick) / this.o.tickMs);
      for (let i = 0; i < owed; i++) node.tick();
      this.lastTick += owed * this.o.tickMs;
      const inbox = this.inbox;
      this.inbox = [];
      for (const m of inbox) node.step(m);
      const actions = this.actions;
      this.actions = [];
      for (const a of actions) a();
      if (!node.hasReady()) {
        if (this.inbox.length === 0 && this.actions.length === 0) return;
        continue;
      }
      const rd = node.ready();
      // A leader's appends go out first: followers write their copy while we write ours. When this
      // Ready writes no entries but applies some (a leader learning a commit), its early messages
      // are commit notices and heartbeats: they go after the answers to the clients of those
      // entries instead (a message may always be sent later than the contract allows). Its meta
      // then differs at most in the commit index: early messages exist only once the epoch and the
      // vote are durable.
      const early = broken?.rule === 'ack-before-persist' ? [...(rd.sendBeforePersist ?? []), ...rd.messages.splice(0)] : (rd.sendBeforePersist ?? []);
      const deferEarly = early.length > 0 && rd.committed.length > 0 && rd.records.length === 0 && !rd.snapshot;
      if (early.length > 0 && !deferEarly) {
        this.out.send(early);
        // The bus client writes in a microtask: one turn lets it put the appends on the wire before
        // our own disk write starts, rather than after it.
        await Promise.resolve();
      }
      const persisting = this.o.storage.persist(rd);
      // Stamped after the call: the WAL writes in a microtask, so this still comes before the I/O.
      const traced = persisting !== undefined ? this.o.onPhase : undefined;
      traced?.('persist');
      // Nothing to write (a commit index alone): no turn of the event loop, so nothing else slips in
      // between learning a commit and answering its client.
      if (persisting) await persisting;
      traced?.('persisted');
      if (rd.messages.length > 0) {
        this.out.send(rd.messages);
        // A follower's acknowledgement leaves before it applies what the same append committed:
        // applying is not on the leader's critical path, the acknowledgement is.
        if (rd.committed.length > 0) await Promise.resolve();
      }
      if (rd.snapshot) {
        this.o.sm.restore(snapshotBytes(rd.snapshot.data), rd.snapshot.index);
        this.appliedSinceSnapshot = 0;
        this.bytesSinceSnapshot = 0;
        this.lastSnapshotBytes = rd.snapshot.data.length;
        this.installedIndex = rd.snapshot.index;
        this.applied = rd.snapshot.index;
        this.log.info({ index: rd.snapshot.index, bytes: rd.snapshot.data.length }, 'snapshot installed from the leader');
      }
      const appliedBefore = this.applied;
      let membershipApplied = false;
      if (broken?.rule === 'apply-past-commit') {
        for (const r of rd.records) {
          const e = broken.entryOf(r);
          if (e.index === this.applied + 1) membershipApplied = this.applyEntry(e) || membershipApplied;
        }
      }
      for (const e of rd.committed) {
        if (broken && e.index <= this.applied) continue;
        membershipApplied = this.applyEntry(e) || membershipApplied;
      }
      for (const rs of rd.readStates) {
        const r = this.reads.get(rs.ctx);
        if (r) r.index = rs.index;
      }
      if (rd.softState) {
        const { role, leader, epoch } = rd.softState;
        this.log.info({ role, leader, term: epoch }, role === 'leader' ? 'became leader' : 'role changed');
        if (role !== 'leader') {
          for (const [ctx, r] of this.reads) {
            this.reads.delete(ctx);
            r.reject(new SynodError('UNAVAILABLE', 'leadership lost before the read was confirmed', { retryable: true }));
          }
        }
        this.leading = role === 'leader';
        if (leader !== undefined && leader !== this.lastLeader) {
          this.counts.leaderChanges++;
          this.lastLeader = leader;
        }
        // A new leader (or the same node leading again in a later epoch) gives every lease a full TTL.
        if (this.leading && epoch !== this.ledEpoch && this.o.leases) {
          this.ledEpoch = epoch;
          this.leaseDeadlines?.lead(this.o.leases.table());
        }
        this.o.onRoleChange?.(role, leader, epoch);
      }
      // Who the followers are matters to thrifty replication (status() is costly: only on changes).
      // Raft counts a new configuration from the moment it is appended; until it is applied here
      // the sender may still hold a follower the new quorum needs, which delays a commit by at most
      // the hold.
      if (this.thrifty && (rd.softState || membershipApplied)) this.thrifty.configure(this.leading, node.id, node.status().membership.voters);
      node.advance();
      // After the microtasks that answer the clients of what was just applied.
      if (deferEarly) this.clock.soon(() => this.stopped || this.out.send(early));
      // Kept here rather than asked of the engine: status() builds a whole report (a leader's
      // progress per peer included) and this runs for every Ready.
      const applied = this.applied;
      for (const [ctx, r] of this.reads) {
        if (r.index !== undefined && r.index <= applied) {
          this.reads.delete(ctx);
          r.resolve();
        }
      }
      if (applied !== appliedBefore || rd.snapshot) {
        if (this.leading && this.o.leases) this.leaseDeadlines?.follow(this.o.leases.table());
        this.o.onApplied?.(applied);
      }
      if (
        this.o.snapshotEvery > 0 &&
        this.appliedSinceSnapshot >= this.o.snapshotEvery &&
        this.bytesSinceSnapshot >= (this.o.snapshotLogRatio ?? 0) * this.lastSnapshotBytes &&
        !this.snapshotting
      ) {
        this.appliedSinceSnapshot = 0;
        this.bytesSinceSnapshot = 0;
        const capture = this.o.sm.beginSnapshot();
        this.snapshotting = this.takeSnapshot(applied, capture).finally(() => (this.snapshotting = undefined));
      }
    }
  }

  /** Applies one entry and answers its proposals; true for a membership entry. */
  private applyEntry(e: CommittedEntry): boolean {
    const result = this.o.sm.apply(e);
    this.applied = e.index;
    this.appliedSinceSnapshot++;
    this.bytesSinceSnapshot += e.data.length;
    const ps = this.proposals.get(e.index);
    if (ps) {
      this.proposals.delete(e.index);
      for (const p of ps) {
        if (e.kind === 'membership' || sameBytes(p.data, e.data)) p.resolve({ index: e.index, result });
        // Another leader's entry took the index: ours was lost and may be sent again.
        else p.reject(new SynodError('UNAVAILABLE', 'the proposal was lost in a leadership change; retry', { retryable: true }), 'LOST');
      }
    }
    return e.kind === 'membership';
  }

  /**
   * Writes a captured state to disk in pieces, yielding to the loop between them, then hands it to
   * the engine (which may drop its log up to `index`) and makes it durable. A failure loses nothing:
   * the WAL keeps every record the previous snapshot needs until a new one is committed.
   */
  private async takeSnapshot(index: number, capture: { chunks(): Iterable<Uint8Array> }): Promise<void> {
    const started = this.clock.now();
    let w: LocalSnapshotWriter | undefined;
    try {
      w = await this.o.storage.beginLocalSnapshot(index);
      for (const chunk of capture.chunks()) {
        if (this.stopped) throw new Error('the replica is stopping');
        await w.write(chunk);
      }
      const data = w.data();
      const snap = await new Promise<Snapshot | undefined>((resolve, reject) =>
        this.enqueue(() => {
          // Thrown here, an error would stop the loop; the snapshot is merely not taken.
          try {
            resolve(index <= this.installedIndex ? undefined : this.o.engine.snapshotTaken(index, data));
          } catch (err) {
            reject(err);
          }
        }, reject),
      );
      if (!snap) {
        await w.abort();
        this.log.info({ index, installed: this.installedIndex }, 'snapshot dropped: the leader sent a newer one meanwhile');
        return;
      }
      await w.commit(snap);
      this.lastSnapshotBytes = data.length;
      const ms = this.clock.now() - started;
      this.o.onSnapshotTaken?.({ bytes: data.length, ms });
      this.log.info({ index, bytes: data.length, ms: Math.round(ms) }, 'snapshot taken');
    } catch (err) {
      // Not committed: nobody reads what was written (a snapshot handed to the engine is committed right after).
      await w?.abort().catch(() => {});
      if (!this.stopped) this.log.error({ err, index }, 'snapshot failed; the log is kept, the next one will be tried later');
    }
  }
}

export function engineToSynod(e: EngineError): SynodError {
  const details = e.leaderHint === undefined ? undefined : { leader: e.leaderHint };
  switch (e.code) {
    case 'NOT_LEADER':
      return new SynodError('NOT_LEADER', e.message, { details });
    case 'OVERLOADED':
      return new SynodError('OVERLOADED', e.message, { details });
    case 'TRANSFERRING':
    case 'NOT_READY':
    case 'MEMBERSHIP_PENDING':
    case 'NOT_CAUGHT_UP':
      return new SynodError('UNAVAILABLE', `${e.code}: ${e.message}`, { details, retryable: true });
    case 'INVALID_CHANGE':
      return new SynodError('BAD_REQUEST', e.message, { details });
  }
}
