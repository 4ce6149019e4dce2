/**
 * A seeded, deterministic simulator that drives any consensus engine through the replicated-log
 * interface: a virtual clock, a network that drops, duplicates, reorders, delays and partitions
 * (symmetric and one-way), process pauses, and crashes that lose whatever was not persisted
 * (including a Ready whose persist was cut short, after the messages it may send before persisting
 * went out). Clients run a key-value workload; their history goes through the linearizability
 * checker at the end. Invariants are asserted after every event.
 *
 * The same seed gives the same run, event for event: a failure prints its seed and the last events,
 * and `--seed` replays it.
 */
import { snapshotBytes, type Addressed, type CommittedEntry, type ConsensusEngine, type DurableState, type NodeId, type Ready, type Snapshot } from '@synod/replog';
import { seededRandom } from '../prng.js';
import { checkLinearizability, kvModel, type KvInput, type KvOutput, type Operation } from '../linearizability/index.js';

/** What the simulator needs to know about an engine. */
export interface SimEngine<Msg extends Addressed, Rec, Meta> {
  name: string;
  create(opts: { id: NodeId; members: NodeId[]; random: () => number; durable?: DurableState<Rec, Meta> }): ConsensusEngine<Msg, Rec, Meta>;
  /**
   * Engine-specific invariants over the live engines, checked after every event. Returns a
   * description of the first violation, or undefined. `state` persists across calls (per run).
   */
  checkInvariants?(engines: ReadonlyMap<NodeId, ConsensusEngine<Msg, Rec, Meta>>, state: Map<string, unknown>): string | undefined;
  describe?(m: Msg): string;
}

export interface FaultProfile {
  /** Probability a message is lost. */
  drop: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Message delay bounds in ms (uniform): wide bounds reorder. */
  delayMs: [number, number];
  /** Mean ms between network changes (partition, one-way cut, heal); 0 disables. */
  partitionEveryMs: number;
  /** Mean ms between crashes; 0 disables. */
  crashEveryMs: number;
  /** Restart after this many ms (uniform). */
  downMs: [number, number];
  /** Probability a crash tears the node's next persist that writes anything (a prefix of its records survives). */
  tornPersist: number;
  /** Mean ms between process pauses; 0 disables. */
  pauseEveryMs: number;
  pauseMs: [number, number];
  /** Mean ms between leadership transfers asked by an operator; 0 disables. */
  transferEveryMs: number;
  /** Take a state-machine snapshot every this many applied entries; 0 disables. */
  snapshotEvery: number;
}

export const DEFAULT_FAULTS: FaultProfile = {
  drop: 0.03,
  duplicate: 0.02,
  delayMs: [1, 25],
  partitionEveryMs: 700,
  crashEveryMs: 1500,
  downMs: [30, 800],
  tornPersist: 0.3,
  pauseEveryMs: 2000,
  pauseMs: [50, 600],
  transferEveryMs: 3000,
  snapshotEvery: 40,
};

export const NO_FAULTS: FaultProfile = {
  drop: 0,
  duplicate: 0,
  delayMs: [1, 3],
  partitionEveryMs: 0,
  crashEveryMs: 0,
  downMs: [0, 0],
  tornPersist: 0,
  pauseEveryMs: 0,
  pauseMs: [0, 0],
  transferEveryMs: 0,
  snapshotEvery: 0,
};

export interface SimOptions {
  seed: number;
  nodes?: number;
  /** Client operations to complete (answered or timed out). */
  ops?: number;
  /** Concurrent clients: bounded so the checker's search stays small. */
  clients?: number;
  keys?: number;
  faults?: FaultProfile;
  /** Virtual ms between ticks of each engine. */
  tickMs?: number;
  /** A client gives up on an operation after this many virtual ms (its outcome is then unknown). */
  clientTimeoutMs?: number;
  /** Checker budget, in explored states. */
  maxCheckStates?: number;
  /** Hard bound on virtual time, in ms: a run that cannot finish its operations by then fails. */
  maxVirtualMs?: number;
  /** Events kept for the failure trace. */
  traceLength?: number;
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
    partitions: number;
    pauses: number;
    snapshots: number;
    explored: number;
  };
}

type KvCommand = { opId: number; input: KvInput };

interface SimNode<Msg extends Addressed, Rec, Meta> {
  id: NodeId;
  engine: ConsensusEngine<Msg, Rec, Meta>;
  durable: { snapshot?: Snapshot; records: Rec[]; meta?: Meta };
  up: boolean;
  pausedUntil: number;
  /** Ticks owed after a pause: the driver catches up by elapsed time before anything else. */
  lastTickAt: number;
  tearNextPersist: boolean;
  kv: Map<string, string>;
  applied: number;
  pendingWrites: Map<number, number>;
  pendingReads: Map<string, { opId: number; key: string }>;
  readyReads: { ctx: string; index: number }[];
  appliedSinceSnapshot: number;
  incarnation: number;
}

interface ClientState {
  id: number;
  op?: { opId: number; input: KvInput; call: number; deadline: number; target: NodeId; proposed: boolean };
  preferred: NodeId;
}

type Event =
  | { kind: 'tick' }
  | { kind: 'deliver'; msg: unknown; to: NodeId; from: NodeId; incarnation: number }
  | { kind: 'client-request'; client: number; opId: number; to: NodeId }
  | { kind: 'client-reply'; client: number; opId: number; from: NodeId; reply: ClientReply }
  | { kind: 'client-next'; client: number }
  | { kind: 'fault' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'resume'; node: NodeId }
  | { kind: 'heal' };

type ClientReply = { ok: true; output: KvOutput } | { ok: false; retry: boolean; hint?: NodeId | undefined };

const enc = new TextEncoder();
const dec = new TextDecoder();

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

/** Runs one seeded simulation of `engine`. Never throws for a failing run: the result says why. */
export function simulate<Msg extends Addressed, Rec, Meta>(engine: SimEngine<Msg, Rec, Meta>, options: SimOptions): SimResult {
  return new Simulation(engine, options).run();
}

class Simulation<Msg extends Addressed, Rec, Meta> {
  private readonly rand: () => number;
  private readonly q = new EventQueue();
  private now = 0;
  private readonly ids: NodeId[];
  private readonly nodes = new Map<NodeId, SimNode<Msg, Rec, Meta>>();
  private readonly clients: ClientState[] = [];
  private readonly history: Operation<KvInput, KvOutput>[] = [];
  private readonly trace: string[] = [];
  private readonly f: FaultProfile;
  private readonly o: Required<Omit<SimOptions, 'faults'>>;
  /** Links cut, as "from->to". */
  private readonly cut = new Set<string>();
  private nextOpId = 1;
  private finishedOps = 0;
  private readonly invariantState = new Map<string, unknown>();
  /** index → fingerprint of the entry any node applied there (state machine safety, engine-neutral). */
  private readonly appliedAt = new Map<number, string>();
  private leaderSeen = new Map<number, NodeId>();
  private readonly stats: SimResult['stats'] = {
    events: 0,
    virtualMs: 0,
    ops: 0,
    okOps: 0,
    unknownOps: 0,
    elections: 0,
    crashes: 0,
    partitions: 0,
    pauses: 0,
    snapshots: 0,
    explored: 0,
  };

  constructor(
    private readonly engine: SimEngine<Msg, Rec, Meta>,
    options: SimOptions,
  ) {
    this.rand = seededRandom(options.seed);
    this.f = options.faults ?? DEFAULT_FAULTS;
    this.o = {
      seed: options.seed,
      nodes: options.nodes ?? 3,
      ops: options.ops ?? 500,
      clients: options.clients ?? 4,
      keys: options.keys ?? 3,
      tickMs: options.tickMs ?? 10,
      clientTimeoutMs: options.clientTimeoutMs ?? 1000,
      maxCheckStates: options.maxCheckStates ?? 2_000_000,
      maxVirtualMs: options.maxVirtualMs ?? 600_000,
      traceLength: options.traceLength ?? 60,
    };
    this.ids = Array.from({ length: this.o.nodes }, (_, i) => `n${i + 1}`);
  }

  run(): SimResult {
    try {
      for (const id of this.ids) this.startNode(id, { records: [] });
      for (let c = 0; c < this.o.clients; c++) {
        this.clients.push({ id: c, preferred: this.pick(this.ids) });
        this.q.push(this.between(0, 20), { kind: 'client-next', client: c });
      }
      this.q.push(this.o.tickMs, { kind: 'tick' });
      this.scheduleFault();
      while (this.finishedOps < this.o.ops) {
        const item = this.q.pop();
        if (!item) throw new SimFailure('event queue ran dry');
        this.now = item.at;
        if (this.now > this.o.maxVirtualMs) throw new SimFailure(`liveness: only ${this.finishedOps} of ${this.o.ops} operations finished in ${this.o.maxVirtualMs} virtual ms`);
        this.stats.events++;
        this.handle(item.ev);
        this.processReadies();
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
      const failure = err instanceof SimFailure ? err.message : `engine threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      return { seed: this.o.seed, ok: false, failure, trace: [...this.trace], stats: this.stats };
    }
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

  private log(line: string): void {
    this.trace.push(`${String(this.now).padStart(7)}ms ${line}`);
    if (this.trace.length > this.o.traceLength) this.trace.shift();
  }

  // ------------------------------------------------------------------ nodes

  private startNode(id: NodeId, durable: SimNode<Msg, Rec, Meta>['durable']): void {
    const prev = this.nodes.get(id);
    const copy: DurableState<Rec, Meta> = { records: [...durable.records] };
    if (durable.snapshot) copy.snapshot = durable.snapshot;
    if (durable.meta !== undefined) copy.meta = durable.meta;
    const fresh = !durable.snapshot && durable.records.length === 0 && durable.meta === undefined;
    const engine = this.engine.create({ id, members: this.ids, random: seededRandom(Math.floor(this.rand() * 2 ** 31)), ...(fresh ? {} : { durable: copy }) });
    const node: SimNode<Msg, Rec, Meta> = {
      id,
      engine,
      durable,
      up: true,
      pausedUntil: 0,
      lastTickAt: this.now,
      tearNextPersist: false,
      kv: new Map(),
      applied: 0,
      pendingWrites: new Map(),
      pendingReads: new Map(),
      readyReads: [],
      appliedSinceSnapshot: 0,
      incarnation: (prev?.incarnation ?? 0) + 1,
    };
    // The state machine restarts from the snapshot; the engine hands out the rest of the log.
    if (durable.snapshot) {
      node.kv = decodeKv(snapshotBytes(durable.snapshot.data));
      node.applied = durable.snapshot.index;
    }
    this.nodes.set(id, node);
  }

  private crash(node: SimNode<Msg, Rec, Meta>, why: string): void {
    node.up = false;
    this.stats.crashes++;
    this.log(`CRASH ${node.id} (${why})`);
    this.q.push(this.now + this.between(...this.f.downMs), { kind: 'restart', node: node.id });
  }

  private live(node: SimNode<Msg, Rec, Meta>): boolean {
    return node.up && node.pausedUntil <= this.now;
  }

  /** A resumed node first catches up the ticks it owes, as a driver ticking by elapsed time would. */
  private catchUpTicks(node: SimNode<Msg, Rec, Meta>): void {
    while (node.lastTickAt + this.o.tickMs <= this.now) {
      node.lastTickAt += this.o.tickMs;
      node.engine.tick();
      if (node.engine.hasReady()) this.processReady(node);
      if (!node.up) return;
    }
  }

  private processReadies(): void {
    for (const node of this.nodes.values()) {
      if (!this.live(node)) continue;
      for (let guard = 0; guard < 100 && node.up && node.engine.hasReady(); guard++) this.processReady(node);
    }
  }

  /** Carries out one Ready exactly as the interface's ordering contract says. */
  private processReady(node: SimNode<Msg, Rec, Meta>): void {
    const rd: Ready<Msg, Rec, Meta> = node.engine.ready();
    // 0. What may go out before the persist does, and is on the wire even if the persist is cut.
    const early = rd.sendBeforePersist ?? [];
    for (const m of early) this.send(m);
    // 1. Persist: snapshot, records, meta.
    // A torn persist needs something to write: a Ready with nothing to persist does not tear.
    if (node.tearNextPersist && (rd.snapshot !== undefined || rd.records.length > 0 || rd.meta !== undefined)) {
      // The process dies while writing, after sending `early`: a prefix of the records (maybe
      // none) reaches the disk, meta does not, nothing else is sent or applied.
      const kept = this.between(0, rd.records.length);
      if (rd.snapshot && this.chance(0.5)) {
        node.durable.snapshot = rd.snapshot;
        node.durable.records = [];
      }
      node.durable.records.push(...rd.records.slice(0, kept));
      this.crash(node, `torn persist: ${kept}/${rd.records.length} records${early.length > 0 ? `, ${early.length} messages sent before it` : ''}`);
      return;
    }
    if (rd.snapshot) {
      // A snapshot from the leader replaces the whole log: earlier records are superseded.
      node.durable.snapshot = rd.snapshot;
      node.durable.records = [];
    }
    node.durable.records.push(...rd.records);
    if (rd.meta !== undefined) node.durable.meta = rd.meta;
    // 2. Send.
    for (const m of rd.messages) this.send(m);
    // 3. Apply.
    if (rd.snapshot) {
      node.kv = decodeKv(snapshotBytes(rd.snapshot.data));
      node.applied = rd.snapshot.index;
      this.log(`${node.id} installed snapshot @${rd.snapshot.index}`);
    }
    for (const e of rd.committed) this.apply(node, e);
    if (rd.softState) {
      this.log(`${node.id} is ${rd.softState.role} (epoch ${rd.softState.epoch}, leader ${rd.softState.leader ?? '-'})`);
      if (rd.softState.role === 'leader') this.stats.elections++;
      if (rd.softState.role !== 'leader') {
        // Reads waiting for a barrier of a leadership we lost are refused; the client retries.
        for (const [ctx, r] of node.pendingReads) {
          node.pendingReads.delete(ctx);
          this.replyToClient(node, r.opId, { ok: false, retry: true, hint: rd.softState.leader });
        }
        node.readyReads = [];
      }
    }
    // 4. Reads whose barrier is applied.
    node.readyReads.push(...rd.readStates);
    this.serveReads(node);
    node.engine.advance();
    // The state machine may snapshot now that it applied more.
    if (this.f.snapshotEvery > 0 && node.appliedSinceSnapshot >= this.f.snapshotEvery) {
      node.appliedSinceSnapshot = 0;
      // The driver persists the snapshot; records stay (they hold the entries after it).
      node.durable.snapshot = node.engine.snapshotTaken(node.applied, encodeKv(node.kv));
      this.stats.snapshots++;
    }
  }

  private apply(node: SimNode<Msg, Rec, Meta>, e: CommittedEntry): void {
    if (e.index !== node.applied + 1) throw new SimFailure(`${node.id} applied index ${e.index} after ${node.applied}: gap or repeat`);
    node.applied = e.index;
    node.appliedSinceSnapshot++;
    const fingerprint = `${e.kind}:${dec.decode(e.data)}`;
    const seen = this.appliedAt.get(e.index);
    if (seen === undefined) this.appliedAt.set(e.index, fingerprint);
    else if (seen !== fingerprint) {
      throw new SimFailure(`state machine safety: ${node.id} applied ${JSON.stringify(fingerprint)} at index ${e.index}, another node applied ${JSON.stringify(seen)}`);
    }
    if (e.kind !== 'command') return;
    const cmd = JSON.parse(dec.decode(e.data)) as KvCommand;
    const output = applyKv(node.kv, cmd.input);
    const client = node.pendingWrites.get(cmd.opId);
    if (client !== undefined) {
      node.pendingWrites.delete(cmd.opId);
      this.replyToClient(node, cmd.opId, { ok: true, output }, client);
    }
  }

  private serveReads(node: SimNode<Msg, Rec, Meta>): void {
    const still: { ctx: string; index: number }[] = [];
    for (const rs of node.readyReads) {
      if (rs.index > node.applied) {
        still.push(rs);
        continue;
      }
      const r = node.pendingReads.get(rs.ctx);
      if (!r) continue;
      node.pendingReads.delete(rs.ctx);
      this.replyToClient(node, r.opId, { ok: true, output: { value: node.kv.get(r.key) ?? null } });
    }
    node.readyReads = still;
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

  private handle(ev: Event): void {
    switch (ev.kind) {
      case 'tick': {
        for (const node of this.nodes.values()) {
          if (!this.live(node)) continue;
          this.catchUpTicks(node);
        }
        this.q.push(this.now + this.o.tickMs, { kind: 'tick' });
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(ev.to);
        if (!node || !node.up || !this.reachable(ev.from, ev.to)) return;
        if (node.pausedUntil > this.now) {
          // A paused process still has the bytes in its socket: they wait.
          this.q.push(node.pausedUntil, ev);
          return;
        }
        this.catchUpTicks(node);
        if (!node.up) return;
        if (this.engine.describe) this.log(`${ev.from}->${ev.to} ${this.engine.describe(ev.msg as Msg)}`);
        node.engine.step(ev.msg as Msg);
        return;
      }
      case 'client-next':
        this.startOp(this.clients[ev.client]!);
        return;
      case 'client-request':
        this.receiveClientRequest(ev.client, ev.opId, ev.to);
        return;
      case 'client-reply':
        this.receiveClientReply(ev.client, ev.opId, ev.from, ev.reply);
        return;
      case 'fault':
        this.injectFault();
        this.scheduleFault();
        return;
      case 'restart': {
        const node = this.nodes.get(ev.node)!;
        if (node.up) return;
        this.startNode(node.id, node.durable);
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
          victim.tearNextPersist = true;
          this.log(`${victim.id} will crash during its next persist`);
        } else this.crash(victim, 'kill -9');
        return;
      }
      case 'pause': {
        const victim = this.pick([...this.nodes.values()].filter((n) => n.up));
        if (!victim) return;
        victim.pausedUntil = this.now + this.between(...this.f.pauseMs);
        this.stats.pauses++;
        this.log(`PAUSE ${victim.id} until ${victim.pausedUntil}`);
        this.q.push(victim.pausedUntil, { kind: 'resume', node: victim.id });
        return;
      }
      case 'transfer': {
        const leader = [...this.nodes.values()].find((n) => this.live(n) && n.engine.status().role === 'leader');
        if (!leader) return;
        const to = this.pick(leader.engine.status().membership.voters.filter((v) => v !== leader.id));
        if (to === undefined) return;
        this.log(`TRANSFER ${leader.id} -> ${to}`);
        leader.engine.transferLeadership(to);
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
      // Expect a recently written value so some CAS succeed.
      const recent = this.history.filter((h) => h.input.key === key && h.input.op !== 'get').slice(-3);
      const expected = recent.length > 0 && this.chance(0.7) ? ('value' in this.pick(recent).input ? (this.pick(recent).input as { value: string }).value : null) : null;
      input = { op: 'cas', key, expected, value };
    }
    client.op = { opId, input, call: this.now, deadline: this.now + this.o.clientTimeoutMs, target: client.preferred, proposed: false };
    this.sendToNode(client, opId, client.preferred);
  }

  private sendToNode(client: ClientState, opId: number, to: NodeId): void {
    if (client.op) client.op.target = to;
    this.q.push(this.now + this.between(...this.f.delayMs), { kind: 'client-request', client: client.id, opId, to });
    // A timer for the client: if nothing comes back by the deadline, the outcome is unknown.
    this.q.push(client.op!.deadline, { kind: 'client-reply', client: client.id, opId, from: to, reply: { ok: false, retry: false } });
  }

  private receiveClientRequest(clientId: number, opId: number, to: NodeId): void {
    const node = this.nodes.get(to)!;
    const client = this.clients[clientId]!;
    if (!client.op || client.op.opId !== opId) return;
    if (!this.live(node)) {
      if (!node.up) return; // no answer: the client times out
      this.q.push(node.pausedUntil, { kind: 'client-request', client: clientId, opId, to });
      return;
    }
    this.catchUpTicks(node);
    if (!node.up) return;
    const input = client.op.input;
    const refuse = (hint: NodeId | undefined) => this.replyToClient(node, opId, { ok: false, retry: true, hint }, clientId);
    if (input.op === 'get' && this.rand() < 0.85) {
      const ctx = `${opId}@${node.id}#${node.incarnation}`;
      const r = node.engine.readIndex(ctx, { mode: this.rand() < 0.25 ? 'lease' : 'read-index' });
      if (!r.ok) return refuse(r.leaderHint);
      node.pendingReads.set(ctx, { opId, key: input.key });
      return;
    }
    const r = node.engine.propose(enc.encode(JSON.stringify({ opId, input } satisfies KvCommand)));
    if (!r.ok) return refuse(r.leaderHint);
    client.op.proposed = true;
    node.pendingWrites.set(opId, clientId);
  }

  private replyToClient(node: SimNode<Msg, Rec, Meta>, opId: number, reply: ClientReply, clientId?: number): void {
    const client = clientId ?? node.pendingWrites.get(opId) ?? this.clients.find((c) => c.op?.opId === opId)?.id;
    if (client === undefined) return;
    this.q.push(this.now + this.between(...this.f.delayMs), { kind: 'client-reply', client, opId, from: node.id, reply });
  }

  private receiveClientReply(clientId: number, opId: number, from: NodeId, reply: ClientReply): void {
    const client = this.clients[clientId]!;
    const op = client.op;
    if (!op || op.opId !== opId) return;
    if (reply.ok) {
      this.finish(client, reply.output, this.now);
      return;
    }
    if (this.now >= op.deadline) {
      // Timed out: a write may still take effect; a read constrains nothing.
      this.finish(client, undefined, Infinity);
      client.preferred = this.pick(this.ids);
      return;
    }
    if (from !== op.target) return;
    // Refused before anything was proposed: safe to send again, to the hinted leader if any.
    const next = reply.hint && this.nodes.has(reply.hint) ? reply.hint : this.pick(this.ids);
    client.preferred = next;
    this.q.push(this.now + this.between(5, 30), { kind: 'client-request', client: clientId, opId, to: next });
    op.target = next;
  }

  private finish(client: ClientState, output: KvOutput | undefined, ret: number): void {
    const op = client.op!;
    client.op = undefined;
    this.history.push({ id: op.opId, clientId: client.id, input: op.input, output, call: op.call, return: ret });
    this.finishedOps++;
    this.stats.ops++;
    if (output === undefined) this.stats.unknownOps++;
    else this.stats.okOps++;
    // The next operation starts strictly later, so "returned before called" is a real order.
    this.q.push(this.now + 1 + this.between(0, 10), { kind: 'client-next', client: client.id });
  }

  // ------------------------------------------------------------------ invariants

  private checkInvariants(): void {
    const live = new Map<NodeId, ConsensusEngine<Msg, Rec, Meta>>();
    for (const n of this.nodes.values()) if (n.up) live.set(n.id, n.engine);
    // Election safety, engine-neutral form: one leader per epoch.
    for (const e of live.values()) {
      const s = e.status();
      if (s.role !== 'leader') continue;
      const other = this.leaderSeen.get(s.epoch);
      if (other === undefined) this.leaderSeen.set(s.epoch, s.id);
      else if (other !== s.id) throw new SimFailure(`election safety: ${other} and ${s.id} both led epoch ${s.epoch}`);
    }
    const violation = this.engine.checkInvariants?.(live, this.invariantState);
    if (violation) throw new SimFailure(`invariant: ${violation}`);
  }
}

// ------------------------------------------------------------------ the KV state machine

export function applyKv(kv: Map<string, string>, input: KvInput): KvOutput {
  switch (input.op) {
    case 'put':
      kv.set(input.key, input.value);
      return { ok: true };
    case 'get':
      return { value: kv.get(input.key) ?? null };
    case 'cas': {
      const current = kv.get(input.key) ?? null;
      if (current !== input.expected) return { ok: false };
      kv.set(input.key, input.value);
      return { ok: true };
    }
  }
}

function encodeKv(kv: Map<string, string>): Uint8Array {
  return enc.encode(JSON.stringify([...kv].sort(([a], [b]) => (a < b ? -1 : 1))));
}

function decodeKv(data: Uint8Array): Map<string, string> {
  return data.length === 0 ? new Map() : new Map(JSON.parse(dec.decode(data)) as [string, string][]);
}
