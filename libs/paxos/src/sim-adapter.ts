import { fromUtf8 as dec, runState, sameBytes, type ConsensusEngine, type DurableState, type EngineConfig, type NodeId, type SimAdapter } from '@synod/replog';
import { PaxosNode } from './paxos.js';
import type { PaxosMessage, PaxosMeta, PaxosOptions, Slot } from './types.js';

/**
 * Multi-Paxos as the simulator drives it: nodes at the simulator's scale (a short window, so
 * configuration changes take effect within a run), with Paxos's invariants checked after every
 * event (one leader per round is checked by the simulator as election safety):
 * - at most one value is chosen per slot: a value counts as chosen once a majority of acceptors
 *   durably accepted it at one ballot (read from what each acceptor persisted);
 * - whatever a node learns as chosen (its commit index) is that value: no two replicas apply
 *   different values at one slot;
 * - a node's chosen prefix never goes back.
 *
 * `make` builds the node (a test-only subclass breaking one rule, to prove the simulator notices).
 */
export function paxosSimEngine(
  overrides: Partial<PaxosOptions> = {},
  make: (o: PaxosOptions, d?: DurableState<Slot, PaxosMeta>) => PaxosNode = (o, d) => new PaxosNode(o, d),
): SimAdapter<PaxosMessage, Slot, PaxosMeta> & { create(config: EngineConfig, durable?: DurableState<Slot, PaxosMeta>): PaxosNode } {
  let members: NodeId[] = [];
  return {
    create(config: EngineConfig, durable?: DurableState<Slot, PaxosMeta>): PaxosNode {
      members = config.initialMembership.voters;
      return make(
        {
          ...paxosOptions(config),
          maxMsgBytes: 4096,
          snapshotChunkBytes: 256,
          snapshotTrailingEntries: 20,
          window: 16,
          trackDurableAccepts: true,
          ...overrides,
        },
        durable,
      );
    },
    checkInvariants(engines: ReadonlyMap<NodeId, ConsensusEngine<PaxosMessage, Slot, PaxosMeta>>, state: Map<string, unknown>): string | undefined {
      const accepted = runState(state, 'accepted', () => new Map<string, { value: Slot; by: Set<NodeId> }>());
      const chosen = runState(state, 'chosen', () => new Map<number, Chosen>());
      const cursor = runState(state, 'cursor', () => new WeakMap<PaxosNode, { commit: number }>());
      const majority = Math.floor(members.length / 2) + 1;
      for (const e of engines.values()) {
        const n = e as PaxosNode;
        const c = cursor.get(n) ?? { commit: 0 };
        cursor.set(n, c);
        const durable = n.durableAccepts.splice(0);
        for (const s of durable) {
          const key = `${s.index}@${s.ballot.round}.${s.ballot.node}`;
          let a = accepted.get(key);
          if (!a) accepted.set(key, (a = { value: s, by: new Set() }));
          else if (!sameValue(a.value, s)) return `two values proposed at slot ${s.index} with ballot ${s.ballot.round}.${s.ballot.node}: ${show(a.value)} and ${show(s)}`;
          a.by.add(n.id);
          if (a.by.size >= majority) {
            const v = decide(chosen, s.index, { value: s, acceptedBy: a.by });
            if (v) return `at most one value per slot: ${v}`;
          }
        }
        const log = n.log;
        if (log.committed < c.commit) return `${n.id}'s chosen prefix went back from ${c.commit} to ${log.committed}`;
        for (let i = Math.max(c.commit + 1, log.offset + 1); i <= log.committed; i++) {
          const v = decide(chosen, i, { value: log.entry(i)!, learnedBy: n.id });
          if (v) return `learned value differs: ${v}`;
        }
        c.commit = log.committed;
      }
      return undefined;
    },
    describe(m: PaxosMessage): string {
      const b = `${m.ballot.round}.${m.ballot.node}`;
      switch (m.type) {
        case 'accept':
          return `accept b${b} prev=${m.prevIndex} n=${m.entries.length} commit=${m.commit}`;
        case 'acceptResp':
          return `acceptResp b${b} ${m.reject ? `reject ${m.index} promised ${m.promised.round}.${m.promised.node}` : `ok ${m.index}`}`;
        case 'prepare':
          return `prepare b${b} from=${m.fromSlot}${m.transfer ? ' transfer' : ''}`;
        case 'promise':
          return `promise b${b} ${m.reject ? `reject${m.behind ? ' behind' : ''} promised ${m.promised.round}.${m.promised.node}` : `n=${m.entries.length} commit=${m.commit}${m.done ? ' done' : ''}`}`;
        case 'snap':
          return `snap b${b} @${m.snapshot.index} off=${m.offset}${m.done ? ' done' : ''}`;
        default:
          return `${m.type} b${b}`;
      }
    },
  };
}

/** A value known chosen at a slot, and how it became known (described only when a check fails). */
interface Chosen {
  value: Slot;
  acceptedBy?: ReadonlySet<NodeId>;
  learnedBy?: NodeId;
}

function sameValue(a: Slot, b: Slot): boolean {
  return a.kind === b.kind && sameBytes(a.data, b.data);
}

function show(s: Slot): string {
  return JSON.stringify(`${s.kind}:${dec.decode(s.data)}`);
}

function how(c: Chosen): string {
  return c.learnedBy !== undefined ? `learned by ${c.learnedBy}` : `accepted by ${[...(c.acceptedBy ?? [])].join(',')} at ${c.value.ballot.round}.${c.value.ballot.node}`;
}

/** Records `c` as chosen at `slot`; a description of the conflict when another value was. */
function decide(chosen: Map<number, Chosen>, slot: number, c: Chosen): string | undefined {
  const known = chosen.get(slot);
  if (!known) chosen.set(slot, c.acceptedBy ? { ...c, acceptedBy: new Set(c.acceptedBy) } : c);
  else if (!sameValue(known.value, c.value)) return `two values chosen at slot ${slot}: ${show(known.value)} (${how(known)}) and ${show(c.value)} (${how(c)})`;
  return undefined;
}

/** Multi-Paxos's options from the engine-neutral configuration (`tuning.window`: α). */
export function paxosOptions({ tuning, ...common }: EngineConfig): PaxosOptions {
  return tuning?.window === undefined ? common : { ...common, window: tuning.window };
}
