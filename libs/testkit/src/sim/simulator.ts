/**
 * A seeded, deterministic simulator of a whole replica group, driving the production driver: each
 * node is an `EngineHost` (libs/engine-host) running an engine module, with group commit, thrifty
 * replication and held commit notices, applying to the store's real state machine (libs/kv-state).
 * The simulator gives the hosts a virtual clock, a network that drops, duplicates, reorders, delays
 * and partitions (symmetric and one-way), and a disk whose writes take time and are lost or torn
 * by a crash; processes pause and restart. Clients run a key-value workload through the hosts' own
 * API (propose, read barriers) with exactly-once sessions; their history goes through the
 * linearizability checker at the end. Invariants are asserted after every event. Lease holders
 * grant leases and keep them alive through the hosts (whose leaders keep the deadlines), and give
 * some up: no lease may expire before the TTL a leader promised at a keep-alive it confirmed has run
 * out (a paused or deposed leader must neither expire a lease another leader extended nor extend
 * one it no longer leads for). Each process's monotonic clock starts at its own origin, as a
 * restarted process's does; clocks run at one rate (the engines' lease reads assume bounded drift).
 *
 * The same seed gives the same run, event for event: every random choice comes from the seed, and
 * the hosts' asynchronous steps are run to a standstill after each event before the next one.
 */
import pino from 'pino';
import { EngineHost, type Clock, type EngineStorage, type LocalSnapshotWriter, type StateMachine } from '@synod/engine-host';
import { kvLeases, ReplicatedKv, type KvApplyResult, type KvCommand, type KvCommandResult } from '@synod/kv-state';
import { SynodError, type KvWriteOp } from '@synod/protocol';
import {
  concatBytes,
  fromUtf8,
  sameBytes,
  snapshotBytes,
  utf8,
  type Addressed,
  type CommittedEntry,
  type ConsensusEngine,
  type DurableState,
  type EngineModule,
  type NodeId,
  type PeerMessage,
  type Ready,
  type Snapshot,
} from '@synod/replog';
import { seededRandom } from '../prng.js';
import { checkLinearizability, kvModel, type KvInput, type KvOutput, type Operation } from '../linearizability/index.js';
import { PROFILES, type FaultProfile } from './profiles.js';

export interface SimOptions {
  seed: number;
  nodes?: number;
  /** Client operations to complete (answered or timed out). */
  ops?: number;
  /** Concurrent clients: bounded so the checker's search stays small. */
  clients?: number;
  keys?: number;
  /** What goes wrong, and how often (default: the `mixed` profile). */
  faults?: FaultProfile;
  /** Virtual ms between ticks of each engine. */
  tickMs?: number;
  /** A client gives up on an operation after this many virtual ms (its outcome is then unknown). */
  clientTimeoutMs?: number;
  /** A client tries another replica when one attempt is unanswered this long. */
  attemptTimeoutMs?: number;
  /** Checker budget, in explored states. */
  maxCheckStates?: number;
  /** Hard bound on virtual time, in ms: a run that cannot finish its operations by then fails. */
  maxVirtualMs?: number;
  /** Events kept for the failure trace. */
  traceLength?: number;
  /** Concurrent lease holders (0: none). */
  leaseHolders?: number;
  /** The TTL the holders grant their leases with, in virtual ms; they keep them alive every third of it. */
  leaseTtlMs?: number;
  /** Test-only: every host breaks this rule (HostOptions.brokenRule). */
  brokenRule?: 'ack-before-persist' | 'apply-past-commit' | 'lease-stale-deadlines';
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** What failed: an invariant, the checker, or liveness. */
  failure?: string;
  trace: string[];
  stats: {
    events: number;
    virtualMs: number;
    ops: number;
    okOps: number;
    unknownOps: number;
    elections: number;
    crashes: number;
    tornPersists: number;
    partitions: number;
    pauses: number;
    snapshots: number;
    explored: number;
    /** Keep-alives a leader confirmed, and leases expired through the log. */
    keepAlives: number;
    leaseExpiries: number;
  };
}

/** The engine as the simulator needs it: a module (its simulator adapter, WAL format and hints). */
type SimModule<Msg extends PeerMessage, Rec extends { index: number }, Meta, Extra> = Pick<EngineModule<Msg, Rec, Meta, Extra>, 'name' | 'sim' | 'wal' | 'hints'>;

interface Durable<Rec, Meta> {
  snapshot?: Snapshot;
  records: Rec[];
  meta?: Meta;
}

interface SimNode<Msg extends Addressed, Rec extends { index: number }, Meta> {
  id: NodeId;
  incarnation: number;
  engine: ConsensusEngine<Msg, Rec, Meta>;
  host: EngineHost<Msg, Rec, Meta, KvApplyResult>;
  kv: ReplicatedKv;
  disk: SimDisk<Msg, Rec, Meta>;
  up: boolean;
  pausedUntil: number;
  /** Index of the last entry applied (or of the snapshot restored). */
  applied: number;
}

interface Timer {
  fn: () => void;
  cancelled: boolean;
}

interface ClientOp {
  opId: number;
  input: KvInput;
  call: number;
  deadline: number;
  attempt: number;
  /** The session seq of a write (or a read through the log): every attempt carries the same one (exactly-once); 0 for a read behind a barrier. */
  seq: number;
  /** A read behind a read barrier (lease or read-index) rather than through the log. */
  barrier?: 'lease' | 'read-index';
}

/** A lease holder: grants a lease, keeps it alive until `keepUntil`, then lets it expire and starts over. */
interface LeaseHolder {
  id: number;
  clientId: string;
  seq: number;
  lease?: number;
  keepUntil: number;
  preferred: NodeId;
  /** Bumped by every step: the answer or timeout of an older step is ignored. */
  step: number;
}

interface ClientState {
  id: number;
  clientId: string;
  seq: number;
  /** A write of this client was answered: its session exists, so it may acknowledge its answers. */
  answered: boolean;
  op?: ClientOp;
  preferred: NodeId;
}

type ClientReply = { ok: true; output: KvOutput } | { ok: false; hint?: NodeId | undefined };

type Event =
  | { kind: 'timer'; node: NodeId; incarnation: number; timer: Timer }
  | { kind: 'disk'; node: NodeId; incarnation: number }
  | { kind: 'deliver'; msg: unknown; to: NodeId; from: NodeId; incarnation: number }
  | { kind: 'client-request'; client: number; opId: number; attempt: number; to: NodeId }
  | { kind: 'client-reply'; client: number; opId: number; attempt: number; reply: ClientReply }
  | { kind: 'client-attempt-timeout'; client: number; opId: number; attempt: number }
  | { kind: 'client-deadline'; client: number; opId: number }
  | { kind: 'client-next'; client: number }
  | { kind: 'lease-step'; holder: number; step: number; elsewhere?: boolean }
  | { kind: 'fault' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'resume'; node: NodeId }
  | { kind: 'heal' };

const silent = pino({ level: 'silent' });

/** Binary heap of events ordered by (time, sequence): same seed, same order. */
class EventQueue {
  private heap: { at: number; seq: number; ev: Event }[] = [];
  private seq = 0;

  push(at: number, ev: Event): void {
    const item = { at, seq: this.seq++, ev };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  pop(): { at: number; ev: Event } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

class SimFailure extends Error {}

/**
 * A node's disk: a persist completes after the profile's disk latency; a crash before then keeps a
 * prefix of its records (and maybe its snapshot), never its meta. A meta change the engine's WAL
 * format would write lazily (a commit index alone) is not written, as on the real WAL.
 */
class SimDisk<Msg, Rec extends { index: number }, Meta> implements EngineStorage<Msg, Rec, Meta> {
  /** The persist in progress, completed by the simulator's `disk` event. */
  inFlight: { rd: Pick<Ready<Msg, Rec, Meta>, 'snapshot' | 'records' | 'meta'>; done: () => void } | undefined;

  constructor(
    readonly durable: Durable<Rec, Meta>,
    private readonly mustPersist: (next: Meta, last: Meta | undefined) => boolean,
    private readonly started: (disk: SimDisk<Msg, Rec, Meta>) => void,
    private readonly snapshotted: () => void,
  ) {}

  persist(rd: Pick<Ready<Msg, Rec, Meta>, 'snapshot' | 'records' | 'meta'>): Promise<void> | undefined {
    if (!rd.snapshot && rd.records.length === 0 && (rd.meta === undefined || !this.mustPersist(rd.meta, this.durable.meta))) return undefined;
    return new Promise((done) => {
      this.inFlight = { rd, done };
      this.started(this);
    });
  }

  /** The persist in flight reaches the disk. */
  complete(): void {
    const f = this.inFlight;
    if (!f) return;
    this.inFlight = undefined;
    this.write(f.rd, f.rd.records.length, true);
    f.done();
  }

  /** A crash in the middle of the persist in flight: `kept` of its records, maybe its snapshot, no meta. */
  tear(kept: number, withSnapshot: boolean): void {
    const f = this.inFlight;
    if (!f) return;
    this.inFlight = undefined;
    this.write({ ...(withSnapshot && f.rd.snapshot ? { snapshot: f.rd.snapshot } : {}), records: f.rd.records }, kept, false);
  }

  private write(rd: Pick<Ready<Msg, Rec, Meta>, 'snapshot' | 'records' | 'meta'>, records: number, meta: boolean): void {
    if (rd.snapshot) {
      // A snapshot from the leader supersedes every record before it.
      this.durable.snapshot = rd.snapshot;
      this.durable.records = [];
    }
    this.durable.records.push(...rd.records.slice(0, records));
    if (meta && rd.meta !== undefined && this.mustPersist(rd.meta, this.durable.meta)) this.durable.meta = rd.meta;
  }

  beginLocalSnapshot(): Promise<LocalSnapshotWriter> {
    const chunks: Uint8Array[] = [];
    return Promise.resolve({
      write: (chunk: Uint8Array) => {
        chunks.push(chunk.slice());
        return Promise.resolve();
      },
      data: () => concatBytes(chunks),
      commit: (snapshot: Snapshot) => {
        // Records stay: they hold the entries after the snapshot.
        this.durable.snapshot = snapshot;
        this.snapshotted();
        return Promise.resolve();
      },
      abort: () => Promise.resolve(),
    });
  }
}

/** Runs one seeded simulation of `engine`. Never throws for a failing run: the result says why. */
export function simulate<Msg extends PeerMessage, Rec extends { index: number }, Meta, Extra>(engine: SimModule<Msg, Rec, Meta, Extra>, options: SimOptions): Promise<SimResult> {
  return new Simulation(engine, options).run();
}

class Simulation<Msg extends PeerMessage, Rec extends { index: number }, Meta, Extra> {
  private readonly rand: () => number;
  private readonly q = new EventQueue();
  private now = 0;
  private readonly ids: NodeId[];
  private readonly nodes = new Map<NodeId, SimNode<Msg, Rec, Meta>>();
  private readonly clients: ClientState[] = [];
  private readonly history: Operation<KvInput, KvOutput>[] = [];
  /** Per key, the inputs of its last three finished writes (what a compare-and-set expects). */
  private readonly recentWrites = new Map<string, KvInput[]>();
  /** The last events, formatted only when a run fails (a ring of `traceLength`). */
  private readonly trace: { at: number; line: string | (() => string) }[] = [];
  private traceAt = 0;
  private readonly f: FaultProfile;
  private readonly o: Required<Omit<SimOptions, 'faults' | 'brokenRule'>>;
  private readonly holders: LeaseHolder[] = [];
  /** Lease id → the latest deadline a leader promised a holder (virtual time of the confirmed keep-alive + TTL). */
  private readonly promised = new Map<number, number>();
  /** Links cut, as "from->to". */
  private readonly cut = new Set<string>();
  private nextOpId = 1;
  private finishedOps = 0;
  private readonly invariantState = new Map<string, unknown>();
  /** index → the entry any node applied there (state machine safety, engine-neutral). */
  private readonly appliedAt = new Map<number, CommittedEntry>();
  private readonly leaderSeen = new Map<number, NodeId>();
  /** Nodes whose next persist that writes anything is cut short by a crash. */
  private readonly tearNext = new Set<NodeId>();
  /** The first failure a host or a state machine reported from inside the hosts' loops. */
  private failure: string | undefined;
  private readonly stats: SimResult['stats'] = {
    events: 0,
    virtualMs: 0,
    ops: 0,
    okOps: 0,
    unknownOps: 0,
    elections: 0,
    crashes: 0,
    tornPersists: 0,
    partitions: 0,
    pauses: 0,
    snapshots: 0,
    explored: 0,
    keepAlives: 0,
    leaseExpiries: 0,
  };

  constructor(
    private readonly engine: SimModule<Msg, Rec, Meta, Extra>,
    private readonly options: SimOptions,
  ) {
    this.rand = seededRandom(options.seed);
    this.f = options.faults ?? PROFILES.mixed;
    this.o = {
      seed: options.seed,
      nodes: options.nodes ?? 3,
      ops: options.ops ?? 500,
      clients: options.clients ?? 4,
      keys: options.keys ?? 3,
      tickMs: options.tickMs ?? 10,
      clientTimeoutMs: options.clientTimeoutMs ?? 1000,
      attemptTimeoutMs: options.attemptTimeoutMs ?? 300,
      maxCheckStates: options.maxCheckStates ?? 2_000_000,
      maxVirtualMs: options.maxVirtualMs ?? 600_000,
      traceLength: options.traceLength ?? 60,
      leaseHolders: options.leaseHolders ?? 2,
      leaseTtlMs: options.leaseTtlMs ?? 300,
    };
    this.ids = Array.from({ length: this.o.nodes }, (_, i) => `n${i + 1}`);
  }

  async run(): Promise<SimResult> {
    try {
      for (const id of this.ids) this.startNode(id, { records: [] });
      await this.settle();
      for (let c = 0; c < this.o.clients; c++) {
        this.clients.push({ id: c, clientId: `client-${c}`, seq: 0, answered: false, preferred: this.pick(this.ids) });
        this.q.push(this.between(0, 20), { kind: 'client-next', client: c });
      }
      for (let h = 0; h < this.o.leaseHolders; h++) {
        this.holders.push({ id: h, clientId: `holder-${h}`, seq: 0, keepUntil: 0, preferred: this.pick(this.ids), step: 0 });
        this.q.push(this.between(0, 20), { kind: 'lease-step', holder: h, step: 0 });
      }
      this.scheduleFault();
      while (this.finishedOps < this.o.ops) {
        const item = this.q.pop();
        if (!item) throw new SimFailure('event queue ran dry');
        this.now = item.at;
        if (this.now > this.o.maxVirtualMs) throw new SimFailure(`liveness: only ${this.finishedOps} of ${this.o.ops} operations finished in ${this.o.maxVirtualMs} virtual ms`);
        this.stats.events++;
        this.handle(item.ev);
        await this.settle();
        if (this.failure !== undefined) throw new SimFailure(this.failure);
        this.checkInvariants();
      }
      this.stats.virtualMs = this.now;
      // Operations still in flight at the end may have taken effect: unknown outcome.
      for (const c of this.clients) {
        if (c.op) this.history.push({ id: c.op.opId, clientId: c.id, input: c.op.input, output: undefined, call: c.op.call, return: Infinity });
      }
      const result = checkLinearizability(kvModel, this.history, { maxStates: this.o.maxCheckStates });
      this.stats.explored = result.explored;
      if (result.outcome === 'violation') throw new SimFailure(`history is not linearizable:\n${result.message}`);
      if (result.outcome === 'budget-exceeded') {
        throw new SimFailure(`the linearizability check exceeded its budget of ${this.o.maxCheckStates} states (partition ${result.partition}): no verdict`);
      }
      return { seed: this.o.seed, ok: true, trace: [], stats: this.stats };
    } catch (err) {
      this.stats.virtualMs = this.now;
      const failure = err instanceof SimFailure ? err.message : `the simulation threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      return { seed: this.o.seed, ok: false, failure, trace: this.traceLines(), stats: this.stats };
    }
  }

  /**
   * Lets the hosts' asynchronous steps run until each live one is idle or waits for its disk, then
   * the callbacks chained on what they resolved (the clients' answers). Microtasks run in a fixed
   * order, so this is as deterministic as the events.
   */
  private async settle(): Promise<void> {
    for (let i = 0; i < 100_000; i++) {
      let busy = false;
      for (const n of this.nodes.values()) if (n.up && n.host.busy && n.disk.inFlight === undefined) busy = true;
      if (!busy) break;
      await null;
    }
    for (let i = 0; i < 4; i++) await null;
  }

  // ------------------------------------------------------------------ randomness helpers

  private between(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  private chance(p: number): boolean {
    return p > 0 && this.rand() < p;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  private log(line: string | (() => string)): void {
    const entry = { at: this.now, line };
    if (this.trace.length < this.o.traceLength) this.trace.push(entry);
    else this.trace[this.traceAt++ % this.o.traceLength] = entry;
  }

  private traceLines(): string[] {
    const n = this.trace.length;
    const start = n < this.o.traceLength ? 0 : this.traceAt % n;
    return Array.from({ length: n }, (_, i) => this.trace[(start + i) % n]!).map((e) => `${String(e.at).padStart(7)}ms ${typeof e.line === 'string' ? e.line : e.line()}`);
  }

  private fail(why: string): void {
    this.failure ??= why;
  }

  // ------------------------------------------------------------------ nodes

  /** Starts (or restarts) a node on what its disk holds: an engine, the store's state machine, a host. */
  private startNode(id: NodeId, durable: Durable<Rec, Meta>): void {
    const incarnation = (this.nodes.get(id)?.incarnation ?? 0) + 1;
    const copy: DurableState<Rec, Meta> = { records: [...durable.records] };
    if (durable.snapshot) copy.snapshot = durable.snapshot;
    if (durable.meta !== undefined) copy.meta = durable.meta;
    const fresh = !durable.snapshot && durable.records.length === 0 && durable.meta === undefined;
    const engine = this.engine.sim.create(
      { id, initialMembership: { voters: this.ids, learners: [] }, random: seededRandom(Math.floor(this.rand() * 2 ** 31)), electionTicks: 10, heartbeatTicks: 1 },
      fresh ? undefined : copy,
    );
    const kv = new ReplicatedKv((index, problem) => this.fail(`${id} applied a bad entry at ${index}: ${problem}`));
    const disk = new SimDisk<Msg, Rec, Meta>(
      durable,
      (next, last) => this.engine.wal.metaMustPersist(next, last),
      (d) => this.diskStarted(id, incarnation, d),
      () => this.stats.snapshots++,
    );
    const node = { id, incarnation, engine, kv, disk, up: true, pausedUntil: 0, applied: 0 } as SimNode<Msg, Rec, Meta>;
    // The state machine restarts from the snapshot; the engine hands out the rest of the log.
    if (durable.snapshot) {
      kv.restore(snapshotBytes(durable.snapshot.data));
      node.applied = durable.snapshot.index;
    }
    const sm: StateMachine<KvApplyResult> = {
      apply: (e) => {
        this.checkApply(node, e);
        return kv.apply(e);
      },
      beginSnapshot: () => kv.beginSnapshot(),
      restore: (data, index) => {
        kv.restore(data);
        node.applied = index;
        this.log(`${id} installed snapshot @${index}`);
      },
    };
    const broken = this.options.brokenRule;
    node.host = new EngineHost<Msg, Rec, Meta, KvApplyResult>({
      engine,
      storage: disk,
      sm,
      send: (msgs) => {
        for (const m of msgs) this.send(m);
      },
      hints: this.engine.hints,
      log: silent,
      clock: this.clockOf(id, incarnation),
      onFatal: (err) => this.fail(err instanceof SimFailure ? err.message : `${id}'s driver failed: ${err.stack ?? err.message}`),
      engineName: this.engine.name,
      tickMs: this.o.tickMs,
      snapshotEvery: this.f.snapshotEvery,
      initialSnapshotBytes: durable.snapshot?.data.length,
      onRoleChange: (role, leader, epoch) => {
        this.log(`${id} is ${role} (epoch ${epoch}, leader ${leader ?? '-'})`);
        if (role !== 'leader') return;
        this.stats.elections++;
        // Election safety, engine-neutral form: one leader per epoch.
        const other = this.leaderSeen.get(epoch);
        if (other === undefined) this.leaderSeen.set(epoch, id);
        else if (other !== id) this.fail(`election safety: ${other} and ${id} both led epoch ${epoch}`);
      },
      thrifty: { holdMs: 5, hedgeMinMs: 2 },
      leases: kvLeases(kv),
      ...(broken === 'apply-past-commit' ? { brokenRule: { rule: broken, entryOf: (r: Rec) => this.engine.wal.entryOf(r) } } : broken ? { brokenRule: { rule: broken } } : {}),
    });
    this.nodes.set(id, node);
    node.host.start();
  }

  /** The node's clock: virtual time, timers as events of this incarnation (dropped once it crashed). */
  private clockOf(node: NodeId, incarnation: number): Clock {
    // A process's monotonic clock starts where it likes: durations are all two processes share.
    const origin = this.between(0, 1_000_000);
    return {
      now: () => this.now + origin,
      setTimer: (fn, ms) => {
        const timer: Timer = { fn, cancelled: false };
        // As Node's timers: at least 1 ms (a shorter wait at a fractional time would not move the clock).
        this.q.push(this.now + Math.max(1, ms), { kind: 'timer', node, incarnation, timer });
        return timer;
      },
      clearTimer: (t) => {
        (t as Timer).cancelled = true;
      },
      soon: (fn) => this.q.push(this.now, { kind: 'timer', node, incarnation, timer: { fn, cancelled: false } }),
    };
  }

  private diskStarted(id: NodeId, incarnation: number, disk: SimDisk<Msg, Rec, Meta>): void {
    const node = this.nodes.get(id);
    if (this.tearNext.delete(id) && node) {
      // The process dies while writing, after sending what may go before the persist.
      const f = disk.inFlight!;
      const kept = this.between(0, f.rd.records.length);
      disk.tear(kept, this.chance(0.5));
      this.stats.tornPersists++;
      this.crash(node, `torn persist: ${kept}/${f.rd.records.length} records`);
      return;
    }
    this.q.push(this.now + this.between(...this.f.diskMs), { kind: 'disk', node: id, incarnation });
  }

  private crash(node: SimNode<Msg, Rec, Meta>, why: string): void {
    node.up = false;
    this.stats.crashes++;
    // What was being written when the process died: a prefix of it reached the disk.
    if (node.disk.inFlight) node.disk.tear(this.between(0, node.disk.inFlight.rd.records.length), this.chance(0.5));
    this.log(`CRASH ${node.id} (${why})`);
    this.q.push(this.now + this.between(...this.f.downMs), { kind: 'restart', node: node.id });
  }

  private live(node: SimNode<Msg, Rec, Meta>): boolean {
    return node.up && node.pausedUntil <= this.now;
  }

  /** Applied in order on every node, and the same entry at every index on all of them. */
  private checkApply(node: SimNode<Msg, Rec, Meta>, e: CommittedEntry): void {
    if (e.index !== node.applied + 1) throw new SimFailure(`${node.id} applied index ${e.index} after ${node.applied}: gap or repeat`);
    node.applied = e.index;
    const seen = this.appliedAt.get(e.index);
    if (seen === undefined) {
      this.appliedAt.set(e.index, e);
      this.checkLeaseExpiry(node, e);
    } else if (seen.kind !== e.kind || !sameBytes(seen.data, e.data)) {
      const show = (x: CommittedEntry) => JSON.stringify(`${x.kind}:${fromUtf8.decode(x.data)}`);
      throw new SimFailure(`state machine safety: ${node.id} applied ${show(e)} at index ${e.index}, another node applied ${show(seen)}`);
    }
  }

  // ------------------------------------------------------------------ network

  private send(m: Msg): void {
    if (this.chance(this.f.drop)) return;
    const copies = this.chance(this.f.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const to = this.nodes.get(m.to);
      this.q.push(this.now + this.between(...this.f.delayMs), { kind: 'deliver', msg: m, to: m.to, from: m.from, incarnation: to?.incarnation ?? 0 });
    }
  }

  private reachable(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}->${to}`);
  }

  // ------------------------------------------------------------------ events

  /** A paused process does nothing: what arrives for it (timers, disk, messages, requests) waits. */
  private deferIfPaused(node: SimNode<Msg, Rec, Meta>, ev: Event): boolean {
    if (node.pausedUntil <= this.now) return false;
    this.q.push(node.pausedUntil, ev);
    return true;
  }

  private handle(ev: Event): void {
    switch (ev.kind) {
      case 'timer': {
        const node = this.nodes.get(ev.node);
        if (!node || !node.up || node.incarnation !== ev.incarnation || ev.timer.cancelled || this.deferIfPaused(node, ev)) return;
        ev.timer.fn();
        return;
      }
      case 'disk': {
        const node = this.nodes.get(ev.node);
        if (!node || !node.up || node.incarnation !== ev.incarnation || this.deferIfPaused(node, ev)) return;
        node.disk.complete();
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(ev.to);
        if (!node || !node.up || !this.reachable(ev.from, ev.to)) return;
        // A paused process still has the bytes in its socket: they wait.
        if (this.deferIfPaused(node, ev)) return;
        const describe = this.engine.sim.describe;
        if (describe) this.log(() => `${ev.from}->${ev.to} ${describe(ev.msg as Msg)}`);
        node.host.receive(ev.msg as Msg);
        return;
      }
      case 'client-next':
        this.startOp(this.clients[ev.client]!);
        return;
      case 'client-request':
        this.receiveClientRequest(ev);
        return;
      case 'lease-step':
        this.leaseStep(ev);
        return;
      case 'client-reply':
        this.receiveClientReply(ev);
        return;
      case 'client-attempt-timeout': {
        const client = this.clients[ev.client]!;
        if (client.op?.opId === ev.opId && client.op.attempt === ev.attempt) this.retry(client, undefined);
        return;
      }
      case 'client-deadline': {
        const client = this.clients[ev.client]!;
        // Timed out: a write may still take effect; a read constrains nothing.
        if (client.op?.opId === ev.opId) {
          this.finish(client, undefined, Infinity);
          client.preferred = this.pick(this.ids);
        }
        return;
      }
      case 'fault':
        this.injectFault();
        this.scheduleFault();
        return;
      case 'restart': {
        const node = this.nodes.get(ev.node)!;
        if (node.up) return;
        this.startNode(node.id, node.disk.durable);
        this.log(`RESTART ${node.id}`);
        return;
      }
      case 'resume':
        this.log(`RESUME ${ev.node}`);
        return;
      case 'heal':
        this.cut.clear();
        this.log('HEAL network');
        return;
    }
  }

  // ------------------------------------------------------------------ faults

  private scheduleFault(): void {
    const rates = [this.f.partitionEveryMs, this.f.crashEveryMs, this.f.pauseEveryMs, this.f.transferEveryMs].filter((r) => r > 0);
    if (rates.length === 0) return;
    const mean = 1 / rates.reduce((s, r) => s + 1 / r, 0);
    this.q.push(this.now + Math.max(1, Math.floor(-Math.log(1 - this.rand()) * mean)), { kind: 'fault' });
  }

  private injectFault(): void {
    const kinds: [string, number][] = [
      ['partition', this.f.partitionEveryMs],
      ['crash', this.f.crashEveryMs],
      ['pause', this.f.pauseEveryMs],
      ['transfer', this.f.transferEveryMs],
    ];
    const weights = kinds.filter(([, r]) => r > 0).map(([k, r]) => [k, 1 / r] as const);
    let x = this.rand() * weights.reduce((s, [, w]) => s + w, 0);
    let kind = weights[0]![0];
    for (const [k, w] of weights) {
      if ((x -= w) <= 0) {
        kind = k;
        break;
      }
    }
    switch (kind) {
      case 'partition':
        this.partition();
        return;
      case 'crash': {
        const up = [...this.nodes.values()].filter((n) => n.up);
        // Keep a majority able to run most of the time; whole-cluster outages happen too, rarely.
        if (up.length === 0 || (up.length <= Math.floor(this.o.nodes / 2) + 1 && !this.chance(0.1))) return;
        const victim = this.pick(up);
        if (this.chance(this.f.tornPersist)) {
          this.tearNext.add(victim.id);
          this.log(`${victim.id} will crash during its next persist`);
        } else this.crash(victim, 'kill -9');
        return;
      }
      case 'pause': {
        const victim = this.pick([...this.nodes.values()].filter((n) => n.up));
        if (!victim) return;
        victim.pausedUntil = Math.max(victim.pausedUntil, this.now + this.between(...this.f.pauseMs));
        this.stats.pauses++;
        this.log(`PAUSE ${victim.id} until ${victim.pausedUntil}`);
        this.q.push(victim.pausedUntil, { kind: 'resume', node: victim.id });
        return;
      }
      case 'transfer': {
        const leader = [...this.nodes.values()].find((n) => this.live(n) && n.host.status().role === 'leader');
        if (!leader) return;
        const to = this.pick(leader.host.status().membership.voters.filter((v) => v !== leader.id));
        if (to === undefined) return;
        this.log(`TRANSFER ${leader.id} -> ${to}`);
        leader.host.transferLeadership(to).catch(() => undefined);
        return;
      }
    }
  }

  private partition(): void {
    this.cut.clear();
    this.stats.partitions++;
    const shape = this.rand();
    if (shape < 0.25) {
      this.log('HEAL network');
      return;
    }
    const ids = [...this.ids];
    if (shape < 0.6) {
      // Symmetric split into two sides.
      const side = new Set(ids.filter(() => this.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}->${b}`);
      this.log(`PARTITION {${[...side].join(',')}} | {${[...new Set(ids).difference(side)].join(',')}}`);
    } else if (shape < 0.8) {
      const lone = this.pick(ids);
      for (const b of ids) if (b !== lone) this.cut.add(`${lone}->${b}`).add(`${b}->${lone}`);
      this.log(`ISOLATE ${lone}`);
    } else {
      // One-way cuts: a node that can send but not receive, or the reverse.
      const a = this.pick(ids);
      const inbound = this.chance(0.5);
      for (const b of ids) if (b !== a) this.cut.add(inbound ? `${b}->${a}` : `${a}->${b}`);
      this.log(`ONE-WAY ${inbound ? `nobody -> ${a}` : `${a} -> nobody`}`);
    }
    this.q.push(this.now + this.between(100, 1500), { kind: 'heal' });
  }

  // ------------------------------------------------------------------ clients

  private startOp(client: ClientState): void {
    if (this.nextOpId > this.o.ops + this.o.clients * 2) return;
    const key = `k${this.between(0, this.o.keys - 1)}`;
    const x = this.rand();
    const opId = this.nextOpId++;
    const value = `v${opId}`;
    let input: KvInput;
    if (x < 0.4) input = { op: 'put', key, value };
    else if (x < 0.8) input = { op: 'get', key };
    else {
      // Expect a recently written value so some compare-and-sets succeed.
      const recent = this.recentWrites.get(key) ?? [];
      const expected = recent.length > 0 && this.chance(0.7) ? ('value' in this.pick(recent) ? (this.pick(recent) as { value: string }).value : null) : null;
      input = { op: 'cas', key, expected, value };
    }
    // Most reads take a read barrier; some go through the log, as a write would.
    const barrier = input.op === 'get' && this.rand() < 0.85 ? (this.rand() < 0.25 ? 'lease' : 'read-index') : undefined;
    const seq = barrier ? 0 : ++client.seq;
    client.op = { opId, input, call: this.now, deadline: this.now + this.o.clientTimeoutMs, attempt: 0, seq, ...(barrier ? { barrier } : {}) };
    this.q.push(client.op.deadline, { kind: 'client-deadline', client: client.id, opId });
    this.attempt(client, client.preferred);
  }

  /** One attempt of the client's operation at replica `to`, with a timer for an answer that never comes. */
  private attempt(client: ClientState, to: NodeId): void {
    const op = client.op!;
    op.attempt++;
    client.preferred = to;
    this.q.push(this.now + this.between(...this.f.delayMs), { kind: 'client-request', client: client.id, opId: op.opId, attempt: op.attempt, to });
    this.q.push(this.now + this.o.attemptTimeoutMs, { kind: 'client-attempt-timeout', client: client.id, opId: op.opId, attempt: op.attempt });
  }

  /** The attempt failed (refused, or unanswered): again at the hinted leader or another replica, same session seq. */
  private retry(client: ClientState, hint: NodeId | undefined): void {
    const next = hint !== undefined && this.nodes.has(hint) ? hint : this.pick(this.ids);
    const op = client.op!;
    const at = this.now + this.between(5, 30);
    if (at >= op.deadline) return;
    op.attempt++;
    client.preferred = next;
    this.q.push(at, { kind: 'client-request', client: client.id, opId: op.opId, attempt: op.attempt, to: next });
    this.q.push(at + this.o.attemptTimeoutMs, { kind: 'client-attempt-timeout', client: client.id, opId: op.opId, attempt: op.attempt });
  }

  private receiveClientRequest(ev: Extract<Event, { kind: 'client-request' }>): void {
    const client = this.clients[ev.client]!;
    const op = client.op;
    if (!op || op.opId !== ev.opId) return;
    const node = this.nodes.get(ev.to)!;
    // A dead replica does not answer: the attempt times out.
    if (!node.up || this.deferIfPaused(node, ev)) return;
    const incarnation = node.incarnation;
    const answer = (reply: ClientReply): void => {
      if (!node.up || node.incarnation !== incarnation) return;
      this.q.push(this.now + this.between(...this.f.delayMs), { kind: 'client-reply', client: client.id, opId: op.opId, attempt: ev.attempt, reply });
    };
    const refused = (err: unknown): void => {
      const leader = err instanceof SynodError ? (err.details as { leader?: unknown } | undefined)?.leader : undefined;
      answer({ ok: false, hint: typeof leader === 'string' ? leader : undefined });
    };
    const { input } = op;
    if (op.barrier) {
      node.host.readBarrier(op.barrier).then(() => {
        const r = node.kv.sm.range({ key: input.key });
        if (!r.ok) return this.fail(`range of ${input.key} failed on ${node.id}: ${r.error.message}`);
        answer({ ok: true, output: { value: r.result.kvs[0]?.value ?? null } });
      }, refused);
      return;
    }
    // A write (or a read through the log), in the client's session: a retried seq applies once.
    // Every answer below this seq was received or given up on; before the session exists, nothing.
    const session = client.answered ? { clientId: client.clientId, seq: op.seq, ackBelow: op.seq } : { clientId: client.clientId, seq: op.seq };
    const cmd: KvCommand = { type: 'request', session, op: writeOp(input) };
    const data = utf8.encode(JSON.stringify(cmd));
    node.kv.proposing(data, cmd);
    node.host.propose(data).then(({ result }) => {
      // A copy applied after the client gave up on it and moved on is refused by the session (its
      // seq is below what the client acknowledged since): no answer is waited for. Else it is a bug.
      if (!result.ok) return client.op?.opId === op.opId ? this.fail(`${input.op} ${input.key} failed on ${node.id}: ${result.error.code} ${result.error.message}`) : undefined;
      try {
        answer({ ok: true, output: outputOf(input, result.result) });
      } catch (err) {
        this.fail((err as Error).message);
      }
    }, refused);
  }

  private receiveClientReply(ev: Extract<Event, { kind: 'client-reply' }>): void {
    const client = this.clients[ev.client]!;
    const op = client.op;
    if (!op || op.opId !== ev.opId) return;
    // An answer of any attempt counts: the write applied once, whichever attempt carried it.
    if (ev.reply.ok) {
      if (op.seq > 0) client.answered = true;
      return this.finish(client, ev.reply.output, this.now);
    }
    if (ev.attempt === op.attempt) this.retry(client, ev.reply.hint);
  }

  private finish(client: ClientState, output: KvOutput | undefined, ret: number): void {
    const op = client.op!;
    client.op = undefined;
    this.history.push({ id: op.opId, clientId: client.id, input: op.input, output, call: op.call, return: ret });
    if (op.input.op !== 'get') {
      const recent = this.recentWrites.get(op.input.key) ?? [];
      recent.push(op.input);
      if (recent.length > 3) recent.shift();
      this.recentWrites.set(op.input.key, recent);
    }
    this.finishedOps++;
    this.stats.ops++;
    if (output === undefined) this.stats.unknownOps++;
    else this.stats.okOps++;
    // The next operation starts strictly later, so "returned before called" is a real order.
    this.q.push(this.now + 1 + this.between(0, 10), { kind: 'client-next', client: client.id });
  }

  // ------------------------------------------------------------------ lease holders

  /**
   * A holder's next step at the replica it prefers: grant a lease, keep it alive, or (its time up)
   * walk away from it and grant another later. A refusal or an unanswered step is tried again at the
   * hinted leader or another replica.
   */
  private leaseStep(ev: Extract<Event, { kind: 'lease-step' }>): void {
    const h = this.holders[ev.holder]!;
    if (ev.step !== h.step) return;
    if (ev.elsewhere) h.preferred = this.pick(this.ids);
    const node = this.nodes.get(h.preferred)!;
    // A paused replica has the request in its socket: it waits.
    if (node.up && this.deferIfPaused(node, { ...ev, elsewhere: false })) return;
    const step = ++h.step;
    const next = (afterMs: number, preferred = h.preferred) => {
      h.preferred = preferred;
      this.q.push(this.now + Math.max(1, afterMs), { kind: 'lease-step', holder: h.id, step: ++h.step });
    };
    const refused = (err: unknown): void => {
      if (step !== h.step || !node.up) return;
      if (err instanceof SynodError && err.code === 'LEASE_NOT_FOUND') {
        // Expired while the holder could not reach a leader in time: start over.
        h.lease = undefined;
        return next(this.between(5, 30));
      }
      const leader = err instanceof SynodError ? (err.details as { leader?: unknown } | undefined)?.leader : undefined;
      next(this.between(5, 30), typeof leader === 'string' && this.nodes.has(leader) ? leader : this.pick(this.ids));
    };
    // Unanswered (a dead replica, an entry lost with its leader): another replica.
    this.q.push(this.now + this.o.attemptTimeoutMs, { kind: 'lease-step', holder: h.id, step, elsewhere: true });
    if (!node.up) return;
    if (h.lease === undefined) {
      const cmd: KvCommand = { type: 'request', session: { clientId: h.clientId, seq: ++h.seq }, op: { op: 'leaseGrant', ttlMs: this.o.leaseTtlMs } };
      node.host.propose(utf8.encode(JSON.stringify(cmd))).then(({ result }) => {
        if (step !== h.step || !node.up) return;
        if (!result.ok || result.result.op !== 'leaseGrant') return this.fail(`lease grant failed on ${node.id}: ${JSON.stringify(result)}`);
        h.lease = result.result.id;
        h.keepUntil = this.now + this.between(0, 8) * this.o.leaseTtlMs;
        this.log(`holder-${h.id} granted lease ${h.lease} on ${node.id}`);
        next(this.o.leaseTtlMs / 3);
      }, refused);
      return;
    }
    if (this.now >= h.keepUntil) {
      this.log(`holder-${h.id} walks away from lease ${h.lease}`);
      h.lease = undefined;
      return next(this.between(0, 2 * this.o.leaseTtlMs));
    }
    const id = h.lease;
    node.host.leaseKeepAlive(id).then(({ ttlMs }) => {
      // The leader's promise: lease `id` lives until at least now + TTL, whoever leads meanwhile.
      this.promised.set(id, Math.max(this.promised.get(id) ?? 0, this.now + ttlMs));
      this.stats.keepAlives++;
      if (step === h.step) next(this.o.leaseTtlMs / 3);
    }, refused);
  }

  /** The first application of a lease expiry: no lease it names is within a TTL a leader promised. */
  private checkLeaseExpiry(node: SimNode<Msg, Rec, Meta>, e: CommittedEntry): void {
    if (e.kind !== 'command' || !startsWith(e.data, LEASE_EXPIRE_PREFIX)) return;
    const { ids } = JSON.parse(fromUtf8.decode(e.data)) as { ids: number[] };
    this.stats.leaseExpiries += ids.length;
    for (const id of ids) {
      const until = this.promised.get(id) ?? 0;
      if (this.now < until) throw new SimFailure(`lease safety: lease ${id} expired at ${this.now} (applied first on ${node.id}, index ${e.index}), ${until - this.now} ms before the TTL a leader confirmed at its last keep-alive ran out`);
    }
  }

  // ------------------------------------------------------------------ invariants

  private checkInvariants(): void {
    const live = new Map<NodeId, ConsensusEngine<Msg, Rec, Meta>>();
    for (const n of this.nodes.values()) if (n.up) live.set(n.id, n.engine);
    const violation = this.engine.sim.checkInvariants?.(live, this.invariantState);
    if (violation) throw new SimFailure(`invariant: ${violation}`);
  }
}

/** How the hosts' lease expiry command (kvLeases) starts. */
const LEASE_EXPIRE_PREFIX = utf8.encode('{"type":"leaseExpire"');

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/** The store operation a client's input is: a put, a compare-and-set (a txn), or a read through the log (a txn of one range). */
function writeOp(input: KvInput): KvWriteOp {
  switch (input.op) {
    case 'put':
      return { op: 'put', key: input.key, value: input.value };
    case 'cas': {
      const compare = input.expected === null ? { key: input.key, target: 'version' as const, op: '=' as const, value: 0 } : { key: input.key, target: 'value' as const, op: '=' as const, value: input.expected };
      return { op: 'txn', compare: [compare], success: [{ op: 'put', key: input.key, value: input.value }], failure: [] };
    }
    case 'get':
      return { op: 'txn', compare: [], success: [{ op: 'range', key: input.key }], failure: [] };
  }
}

/** The client's view of the store's answer. */
function outputOf(input: KvInput, r: KvCommandResult): KvOutput {
  if (input.op === 'put') return { ok: true };
  if (r.op !== 'txn') throw new SimFailure(`a ${input.op} was answered with a ${r.op} result`);
  if (input.op === 'cas') return { ok: r.succeeded };
  const range = r.results[0];
  if (range?.op !== 'range') throw new SimFailure('a read through the log was answered without a range');
  return { value: range.kvs[0]?.value ?? null };
}
