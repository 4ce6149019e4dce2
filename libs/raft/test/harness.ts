import { snapshotBytes, type CommittedEntry, type NodeId, type ReadState } from '@synod/replog';
import { seededRandom } from '@synod/testkit';
import { RaftNode, type Entry, type HardState, type RaftDurableState, type RaftMessage, type RaftOptions, type RaftSnapshot } from '../src/index.js';

/** What one node has persisted, as its driver would have it on disk. */
export class MemStorage {
  snapshot: RaftSnapshot | undefined;
  records: Entry[] = [];
  meta: HardState | undefined;

  durable(): RaftDurableState {
    const d: RaftDurableState = { records: [...this.records] };
    if (this.snapshot) d.snapshot = this.snapshot;
    if (this.meta) d.meta = this.meta;
    return d;
  }
}

export interface NodeState {
  node: RaftNode;
  storage: MemStorage;
  applied: CommittedEntry[];
  reads: ReadState[];
}

/**
 * An in-process cluster in the style of etcd's raft tests: messages are delivered synchronously
 * until none is left, and links can be cut, nodes isolated and recovered, or crashed and restarted
 * from what they persisted.
 */
export class Cluster {
  readonly nodes = new Map<NodeId, NodeState>();
  private readonly cut = new Set<string>();
  private readonly down = new Set<NodeId>();
  /** Messages that are dropped before delivery (a filter returns false to drop). */
  filter: (m: RaftMessage) => boolean = () => true;
  /** Rewrites messages in flight (after the filter). */
  rewrite: (m: RaftMessage) => RaftMessage = (m) => m;
  readonly delivered: RaftMessage[] = [];

  constructor(
    readonly ids: NodeId[],
    private readonly options: Partial<RaftOptions> = {},
    readonly make: (opts: RaftOptions, durable?: RaftDurableState) => RaftNode = (o, d) => new RaftNode(o, d),
  ) {
    ids.forEach((id, i) => this.nodes.set(id, this.create(id, i, new MemStorage())));
  }

  private create(id: NodeId, seed: number, storage: MemStorage, learners: NodeId[] = []): NodeState {
    const node = this.make(
      { id, initialMembership: { voters: this.ids, learners }, random: seededRandom(seed + 1), electionTicks: 10, heartbeatTicks: 1, ...this.options },
      storage.records.length || storage.meta || storage.snapshot ? storage.durable() : undefined,
    );
    return { node, storage, applied: [], reads: [] };
  }

  get(id: NodeId): RaftNode {
    return this.nodes.get(id)!.node;
  }

  state(id: NodeId): NodeState {
    return this.nodes.get(id)!;
  }

  leader(): RaftNode | undefined {
    const leaders = [...this.nodes.values()].filter((n) => n.node.role === 'leader' && !this.down.has(n.node.id));
    return leaders.sort((a, b) => b.node.term - a.node.term)[0]?.node;
  }

  /** Carries out every node's Ready and delivers messages until the cluster is quiet. */
  settle(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const outbox: RaftMessage[] = [];
      for (const st of this.nodes.values()) {
        if (this.down.has(st.node.id) || !st.node.hasReady()) continue;
        outbox.push(...this.process(st));
      }
      // A leader may commit in advance() (its own persist counts), with nothing to send.
      if (outbox.length === 0 && ![...this.nodes.values()].some((st) => !this.down.has(st.node.id) && st.node.hasReady())) return;
      for (const m of outbox) this.deliver(m);
    }
    throw new Error('cluster did not settle');
  }

  private process(st: NodeState): RaftMessage[] {
    const rd = st.node.ready();
    // Sent before the persist below (delivery happens after it here, like a fast disk).
    const early = rd.sendBeforePersist ?? [];
    if (rd.snapshot) {
      st.storage.snapshot = rd.snapshot as RaftSnapshot;
      st.storage.records = [];
    }
    st.storage.records.push(...rd.records);
    if (rd.meta) st.storage.meta = rd.meta;
    if (rd.snapshot) st.applied.push({ index: rd.snapshot.index, kind: 'noop', data: snapshotBytes(rd.snapshot.data) });
    st.applied.push(...rd.committed);
    st.reads.push(...rd.readStates);
    st.node.advance();
    return [...early, ...rd.messages];
  }

  private deliver(m: RaftMessage): void {
    if (this.down.has(m.to) || this.down.has(m.from)) return;
    if (this.cut.has(`${m.from}->${m.to}`)) return;
    if (!this.filter(m)) return;
    const out = this.rewrite(m);
    this.delivered.push(out);
    this.nodes.get(m.to)?.node.step(out);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.get(id).tick();
      this.settle();
    }
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.nodes.keys()) if (!this.down.has(id)) this.get(id).tick();
      this.settle();
    }
  }

  /**
   * Makes `id` win an election: first every other follower runs out its election timeout (its own
   * campaign requests dropped), so nobody is still loyal to an old leader; then `id` ticks until
   * it campaigns and wins.
   */
  elect(id: NodeId): void {
    const filter = this.filter;
    for (const other of this.nodes.keys()) {
      const n = this.get(other);
      if (other === id || this.down.has(other) || n.role === 'leader') continue;
      this.filter = (m) => !(m.from === other && (m.type === 'vote' || m.type === 'preVote')) && filter(m);
      this.tick(other, 10);
    }
    this.filter = filter;
    for (let i = 0; i < 100 && this.get(id).role !== 'leader'; i++) this.tick(id);
    if (this.get(id).role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  propose(id: NodeId, text: string): ReturnType<RaftNode['propose']> {
    const r = this.get(id).propose(new TextEncoder().encode(text));
    this.settle();
    return r;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
  }

  recover(): void {
    this.cut.clear();
    this.filter = () => true;
    this.rewrite = (m) => m;
  }

  crash(id: NodeId): void {
    this.down.add(id);
  }

  /** Restarts `id` from exactly what it persisted; volatile state is gone. */
  restart(id: NodeId): void {
    const st = this.nodes.get(id)!;
    this.down.delete(id);
    this.nodes.set(id, this.create(id, this.ids.indexOf(id) + 100, st.storage));
  }

  /** Adds a node that starts empty (a new learner). */
  addNode(id: NodeId): void {
    this.nodes.set(id, this.create(id, this.nodes.size + 200, new MemStorage()));
  }

  appliedData(id: NodeId): string[] {
    const dec = new TextDecoder();
    return this.state(id).applied.filter((e) => e.kind === 'command').map((e) => dec.decode(e.data));
  }
}

/**
 * Figure 8 of the Raft paper, step by step (one entry per message so some can be held back):
 * (a) a leads and replicates an entry to b only, then crashes; (b) e leads a later term with c and
 * d, appends an entry nobody gets, crashes; (c) a leads again and copies its old entry to c, so a
 * majority holds it while a's own-term entries are held back. Returns the cluster at that point.
 */
export function figure8(make?: (o: RaftOptions, d?: RaftDurableState) => RaftNode): Cluster {
  const enc = new TextEncoder();
  const c = new Cluster(['a', 'b', 'c', 'd', 'e'], { preVote: false, checkQuorum: false, maxMsgBytes: 1 }, make);
  c.elect('a');
  for (const id of ['c', 'd', 'e']) c.cutLink('a', id);
  c.get('a').propose(enc.encode('old-term-entry'));
  c.settle();
  c.crash('a');
  c.recover();
  c.crash('b');
  c.filter = (m) => !(m.type === 'app' && m.from === 'e');
  c.elect('e');
  c.get('e').propose(enc.encode('never-replicated'));
  c.settle();
  c.crash('e');
  c.recover();
  c.restart('a');
  c.restart('b');
  c.cutLink('a', 'd');
  c.cutLink('d', 'a');
  c.rewrite = (m) => (m.type === 'app' && m.from === 'a' ? { ...m, entries: m.entries.filter((e) => e.term !== c.get('a').term) } : m);
  c.elect('a');
  c.tickAll(3);
  return c;
}
