import { fromUtf8 as dec, runState, sameBytes, type ConsensusEngine, type DurableState, type EngineConfig, type NodeId, type SimAdapter } from '@synod/replog';
import { RaftNode } from './raft.js';
import type { Entry, HardState, RaftMessage, RaftOptions } from './types.js';

/**
 * Raft as the simulator drives it: nodes at the simulator's scale, and Raft's own invariants
 * (§5.2 election safety is checked by the simulator for every engine):
 * - log matching (§5.3): two logs holding an entry with the same index and term agree on it and on
 *   everything before it;
 * - leader completeness (§5.4): a new leader holds every entry committed before its term;
 * - state machine safety (§5.4.3): no two nodes commit different entries at one index;
 * - a node's commit index never goes back.
 *
 * `make` builds the node (a test-only subclass breaking one rule, to prove the simulator notices).
 */
export function raftSimEngine(
  overrides: Partial<RaftOptions> = {},
  make: (o: RaftOptions, d?: DurableState<Entry, HardState>) => RaftNode = (o, d) => new RaftNode(o, d),
): SimAdapter<RaftMessage, Entry, HardState> & { create(config: EngineConfig, durable?: DurableState<Entry, HardState>): RaftNode } {
  return {
    create(config: EngineConfig, durable?: DurableState<Entry, HardState>): RaftNode {
      return make(
        {
          ...raftOptions(config),
          // Small messages and snapshot chunks, few trailing entries: streaming and snapshots happen often.
          maxMsgBytes: 4096,
          snapshotChunkBytes: 256,
          snapshotTrailingEntries: 20,
          ...overrides,
        },
        durable,
      );
    },
    checkInvariants(engines: ReadonlyMap<NodeId, ConsensusEngine<RaftMessage, Entry, HardState>>, state: Map<string, unknown>): string | undefined {
      const committed = runState(state, 'committed', () => new Map<number, Entry>());
      const commitSeen = runState(state, 'commitSeen', () => new WeakMap<RaftNode, number>());
      const leadersChecked = runState(state, 'leadersChecked', () => new Set<string>());
      const nodes = [...engines.values()] as RaftNode[];
      for (const n of nodes) {
        const log = n.log;
        const before = commitSeen.get(n) ?? 0;
        if (log.committed < before) return `${n.id}'s commit index went back from ${before} to ${log.committed}`;
        commitSeen.set(n, log.committed);
        for (let i = Math.max(before + 1, log.offset + 1); i <= log.committed; i++) {
          const e = log.entry(i)!;
          const known = committed.get(i);
          if (!known) committed.set(i, e);
          else if (known.term !== e.term || !sameBytes(known.data, e.data)) {
            return `state machine safety: ${n.id} committed (term ${e.term}) ${JSON.stringify(dec.decode(e.data))} at ${i}, earlier commit there was (term ${known.term}) ${JSON.stringify(dec.decode(known.data))}`;
          }
        }
        if (n.role === 'leader' && !leadersChecked.has(`${n.id}@${n.term}`)) {
          leadersChecked.add(`${n.id}@${n.term}`);
          for (const [i, c] of committed) {
            if (i <= log.offset || c.term >= n.term) continue;
            const t = log.term(i);
            if (t !== c.term) return `leader completeness: ${n.id} leads term ${n.term} without committed entry ${i} (term ${c.term}); it has term ${t ?? 'none'} there`;
          }
        }
      }
      // Log matching across every pair, from the highest index both hold with the same term down;
      // a pair is checked again only once one of its logs changed (most events change none).
      const seen = runState(state, 'logSeen', () => new WeakMap<RaftNode, { offset: number; last: Entry | undefined; length: number }>());
      const changed = new Set<RaftNode>();
      for (const n of nodes) {
        const was = seen.get(n);
        const now = { offset: n.log.offset, last: n.log.entries[n.log.entries.length - 1], length: n.log.entries.length };
        if (!was || was.offset !== now.offset || was.last !== now.last || was.length !== now.length) changed.add(n);
        seen.set(n, now);
      }
      for (let a = 0; a < nodes.length; a++) {
        for (let b = a + 1; b < nodes.length; b++) {
          if (!changed.has(nodes[a]!) && !changed.has(nodes[b]!)) continue;
          const x = nodes[a]!.log;
          const y = nodes[b]!.log;
          const lo = Math.max(x.offset, y.offset) + 1;
          let top = Math.min(x.lastIndex(), y.lastIndex());
          while (top >= lo && x.term(top) !== y.term(top)) top--;
          for (let i = top; i >= lo; i--) {
            const ex = x.entry(i)!;
            const ey = y.entry(i)!;
            // Replicated entries are shared objects in the simulator: the same object matches.
            if (ex === ey) continue;
            if (ex.term !== ey.term || ex.type !== ey.type || !sameBytes(ex.data, ey.data)) {
              return `log matching: ${nodes[a]!.id} and ${nodes[b]!.id} agree at index ${top} but differ at ${i}`;
            }
          }
        }
      }
      return undefined;
    },
    describe(m: RaftMessage): string {
      switch (m.type) {
        case 'app':
          return `app t${m.term} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
        case 'appResp':
          return `appResp t${m.term} ${m.reject ? `reject ${m.index} hint ${m.hint}` : `ok ${m.index}`}`;
        case 'snap':
          return `snap t${m.term} @${m.snapshot.index} off=${m.offset}${m.done ? ' done' : ''}`;
        default:
          return `${m.type} t${m.term}`;
      }
    },
  };
}

/** Raft's options from the engine-neutral configuration (Raft takes no tuning of its own). */
export function raftOptions({ tuning: _tuning, ...common }: EngineConfig): RaftOptions {
  return common;
}
