import type { ConsensusEngine, DurableState, NodeId } from '@synod/replog';
import { PaxosNode } from './paxos.js';
import type { PaxosMessage, PaxosMeta, PaxosOptions, Slot } from './types.js';

const dec = new TextDecoder();

/**
 * Multi-Paxos as the simulator drives it, with Paxos's invariants checked after every event (one
 * leader per round is checked by the simulator as election safety):
 * - at most one value is chosen per slot: a value counts as chosen once a majority of acceptors
 *   durably accepted it at one ballot (read from what each acceptor persisted);
 * - whatever a node learns as chosen (its commit index) is that value: no two replicas apply
 *   different values at one slot;
 * - a node's chosen prefix never goes back.
 *
 * Structurally a `SimEngine` of @synod/testkit, without depending on it.
 */
export function paxosSimEngine(overrides: Partial<PaxosOptions> = {}, make: (o: PaxosOptions, d?: DurableState<Slot, PaxosMeta>) => PaxosNode = (o, d) => new PaxosNode(o, d)) {
  let members: NodeId[] = [];
  return {
    name: 'paxos',
    create(opts: { id: NodeId; members: NodeId[]; random: () => number; durable?: DurableState<Slot, PaxosMeta> }): PaxosNode {
      members = opts.members;
      return make(
        {
          id: opts.id,
          initialMembership: { voters: opts.members, learners: [] },
          random: opts.random,
          electionTicks: 10,
          heartbeatTicks: 1,
          maxMsgBytes: 4096,
          snapshotChunkBytes: 256,
          snapshotTrailingEntries: 20,
          window: 16,
          trackDurableAccepts: true,
          ...overrides,
        },
        opts.durable,
      );
    },
    checkInvariants(engines: ReadonlyMap<NodeId, ConsensusEngine<PaxosMessage, Slot, PaxosMeta>>, state: Map<string, unknown>): string | undefined {
      const accepted = getOr(state, 'accepted', () => new Map<string, { value: string; by: Set<NodeId> }>());
      const chosen = getOr(state, 'chosen', () => new Map<number, { value: string; how: string }>());
      const cursor = getOr(state, 'cursor', () => new WeakMap<PaxosNode, { commit: number }>());
      const majority = Math.floor(members.length / 2) + 1;
      const decide = (slot: number, value: string, how: string): string | undefined => {
        const known = chosen.get(slot);
        if (!known) chosen.set(slot, { value, how });
        else if (known.value !== value) return `two values chosen at slot ${slot}: ${JSON.stringify(known.value)} (${known.how}) and ${JSON.stringify(value)} (${how})`;
        return undefined;
      };
      for (const e of engines.values()) {
        const n = e as PaxosNode;
        const c = cursor.get(n) ?? { commit: 0 };
        cursor.set(n, c);
        const durable = n.durableAccepts.splice(0);
        for (const s of durable) {
          const key = `${s.index}@${s.ballot.round}.${s.ballot.node}`;
          const value = fingerprint(s);
          let a = accepted.get(key);
          if (!a) accepted.set(key, (a = { value, by: new Set() }));
          else if (a.value !== value) return `two values proposed at slot ${s.index} with ballot ${s.ballot.round}.${s.ballot.node}: ${JSON.stringify(a.value)} and ${JSON.stringify(value)}`;
          a.by.add(n.id);
          if (a.by.size >= majority) {
            const v = decide(s.index, value, `accepted by ${[...a.by].join(',')} at ${s.ballot.round}.${s.ballot.node}`);
            if (v) return `at most one value per slot: ${v}`;
          }
        }
        const log = n.log;
        if (log.committed < c.commit) return `${n.id}'s chosen prefix went back from ${c.commit} to ${log.committed}`;
        for (let i = Math.max(c.commit + 1, log.offset + 1); i <= log.committed; i++) {
          const v = decide(i, fingerprint(log.entry(i)!), `learned by ${n.id}`);
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

function fingerprint(s: Slot): string {
  return `${s.kind}:${dec.decode(s.data)}`;
}

function getOr<T>(state: Map<string, unknown>, key: string, make: () => T): T {
  let v = state.get(key) as T | undefined;
  if (v === undefined) {
    v = make();
    state.set(key, v);
  }
  return v;
}
