import type { CommittedEntry, NodeId, ReadState } from '@synod/replog';
import { seededRandom } from '@synod/testkit';
import { PaxosNode, type PaxosDurableState } from '../src/index.js';
import type { PaxosMessage, PaxosOptions, Slot } from '../src/types.js';

const dec = new TextDecoder();

interface NodeState {
  durable: PaxosDurableState;
  applied: CommittedEntry[];
  reads: ReadState[];
}

/**
 * A hand-driven cluster for the unit tests: messages wait in a queue until `deliver()`/`settle()`,
 * links can be cut, nodes restarted from what they persisted. Readies are carried out as the
 * contract says (persist, send, apply, advance).
 */
export class Cluster {
  readonly nodes = new Map<NodeId, PaxosNode>();
  readonly states = new Map<NodeId, NodeState>();
  queue: PaxosMessage[] = [];
  private readonly cut = new Set<NodeId>();

  constructor(
    readonly ids: NodeId[],
    private readonly opts: Partial<PaxosOptions> = {},
    durable: Record<NodeId, PaxosDurableState> = {},
  ) {
    for (const id of ids) this.start(id, durable[id]);
  }

  start(id: NodeId, durable?: PaxosDurableState): PaxosNode {
    const n = new PaxosNode({ id, initialMembership: { voters: this.ids, learners: [] }, random: seededRandom(id.charCodeAt(0)), electionTicks: 10, ...this.opts }, durable);
    this.nodes.set(id, n);
    this.states.set(id, { durable: durable ?? { records: [] }, applied: this.states.get(id)?.applied ?? [], reads: [] });
    return n;
  }

  restart(id: NodeId): PaxosNode {
    const d = this.states.get(id)!.durable;
    this.states.get(id)!.applied = [];
    return this.start(id, { ...d, records: [...d.records] });
  }

  get(id: NodeId): PaxosNode {
    return this.nodes.get(id)!;
  }

  state(id: NodeId): NodeState {
    return this.states.get(id)!;
  }

  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Carries out every pending Ready. */
  flush(): void {
    for (const [id, n] of this.nodes) {
      while (n.hasReady()) {
        const rd = n.ready();
        // Sent before the persist (the queue delivers them only after it here, like a fast disk).
        for (const m of rd.sendBeforePersist ?? []) if (!this.cut.has(m.from) && !this.cut.has(m.to)) this.queue.push(m);
        const st = this.states.get(id)!;
        if (rd.snapshot) st.durable = { snapshot: rd.snapshot, records: [], ...(st.durable.meta ? { meta: st.durable.meta } : {}) };
        st.durable.records.push(...rd.records);
        if (rd.meta) st.durable.meta = rd.meta;
        for (const m of rd.messages) if (!this.cut.has(m.from) && !this.cut.has(m.to)) this.queue.push(m);
        st.applied.push(...rd.committed);
        st.reads.push(...rd.readStates);
        n.advance();
      }
    }
  }

  /** Delivers messages until none is left. */
  settle(max = 10_000): void {
    this.flush();
    for (let i = 0; i < max && this.queue.length > 0; i++) {
      const m = this.queue.shift()!;
      this.nodes.get(m.to)?.step(m);
      this.flush();
    }
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).tick();
    this.flush();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.ids) if (this.nodes.has(id)) this.get(id).tick();
      this.settle();
    }
  }

  /** Ticks `id` alone until it leads. */
  elect(id: NodeId): void {
    for (let i = 0; i < 100 && this.get(id).role !== 'leader'; i++) {
      this.tick(id);
      this.settle();
    }
    if (this.get(id).role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  commands(id: NodeId): string[] {
    return this.state(id)
      .applied.filter((e) => e.kind === 'command')
      .map((e) => dec.decode(e.data));
  }
}

export function slot(index: number, round: number, node: NodeId, value: string | undefined): Slot {
  const enc = new TextEncoder();
  return value === undefined ? { index, ballot: { round, node }, kind: 'noop', data: new Uint8Array(0) } : { index, ballot: { round, node }, kind: 'command', data: enc.encode(value) };
}
