import type { Addressed, CommittedEntry, ConsensusEngine, DurableState, Membership, NodeId, Snapshot } from './engine.js';

/**
 * What a consensus engine brings to Synod, in one module: everything the replica, the offline
 * tools and the simulator need to run it, so that adding an engine is one lib exporting one of
 * these and one line in the replica's engine table (libs/replog/README.md).
 */
export interface EngineModule<Msg extends PeerMessage, Rec extends { index: number }, Meta, Extra> {
  /** What `ENGINE` names it by (`raft`, `paxos`). */
  readonly name: string;
  /** A node, new (from `config.initialMembership`) or restarted from what it persisted. */
  create(config: EngineConfig, durable?: DurableState<Rec, Meta>): ConsensusEngine<Msg, Rec, Meta>;
  /** Its peer messages on the wire (the binary framing of `wire.ts`). */
  readonly codec: PeerCodec<Msg>;
  /** Its durable state as WAL records, a meta register and snapshot metadata. */
  readonly wal: WalFormat<Rec, Meta, Extra>;
  /** How a driver reads its replication traffic (thrifty replication, held commit notices). */
  readonly hints: ReplicationHints<Msg>;
  /** How the seeded simulator builds and checks it. */
  readonly sim: SimAdapter<Msg, Rec, Meta>;
  /**
   * The durable state of a member of a new cluster seeded from a state-machine snapshot (offline
   * restore, as etcdutl's): it starts at `index` with `membership`, and its log goes on from there.
   */
  bootstrap(s: { index: number; membership: Membership; data: Uint8Array }): DurableState<Rec, Meta> & { snapshot: Snapshot<Extra> };
}

/** Any engine's messages: addressed, with a type name (for logs and traces). */
export type PeerMessage = Addressed & { type: string };

/** An engine module whose own types the holder does not need (the replica's engine table). */
export type AnyEngineModule = EngineModule<PeerMessage, { index: number }, unknown, unknown>;

/** What every engine is configured with. */
export interface EngineConfig {
  id: NodeId;
  /** Voters when the node starts with no durable state (bootstrap); ignored once state exists. */
  initialMembership: Membership;
  /** Uniform numbers in [0, 1): randomized election timeouts and backoffs. */
  random: () => number;
  /** Ticks between heartbeats. */
  heartbeatTicks?: number;
  /** Ticks without hearing from a leader before campaigning; randomized in [n, 2n). */
  electionTicks?: number;
  /** Proposals beyond this many uncommitted bytes are refused with OVERLOADED. */
  maxUncommittedBytes?: number;
  /** Entries kept below a snapshot, so a slightly lagging follower needs no snapshot. */
  snapshotTrailingEntries?: number;
  /** Engine-specific settings by name (Multi-Paxos: `window`); an engine ignores names it does not use. */
  tuning?: Readonly<Record<string, number>>;
}

/** How an engine's messages travel as bytes; `decode` throws a PeerMessageError on anything invalid. */
export interface PeerCodec<Msg> {
  encode(m: Msg): Uint8Array;
  decode(b: Uint8Array): Msg;
}

/** An engine's durable state on a WAL of opaque records (libs/wal's EngineWalStorage stores it). */
export interface WalFormat<Rec extends { index: number }, Meta, Extra> {
  /** For messages: 'Raft', 'Paxos'. */
  engine: string;
  encodeRecord(r: Rec): Uint8Array;
  decodeRecord(b: Uint8Array): Rec;
  encodeMeta(m: Meta): Uint8Array;
  decodeMeta(b: Uint8Array): Meta;
  /**
   * Whether `next` must be durable before this Ready's messages go out (a vote, a promise), rather
   * than riding along with the next such change (a commit index alone: a restart re-learns it).
   */
  metaMustPersist(next: Meta, last: Meta | undefined): boolean;
  /** Raft: a record at index i replaces every entry from i on. Paxos: a record replaces slot i only. */
  supersedes: 'suffix' | 'slot';
  /** The snapshot's engine metadata from its JSON form; throws if it is not valid. */
  parseExtra(json: unknown): Extra;
  /** The entry a record holds, as the state machine would be handed it once committed. */
  entryOf(r: Rec): CommittedEntry;
}

/** How a driver reads an engine's replication traffic without knowing its message types. */
export interface ReplicationHints<Msg> {
  /** A replication message (Raft's append, Paxos's accept), commit notices included. */
  isAppend(m: Msg): boolean;
  /** For a replication message carrying entries: the index of its last entry. */
  appendEnd(m: Msg): number | undefined;
  /** For a follower's positive answer to replication: the index it holds up to. */
  ackIndex(m: Msg): number | undefined;
  /**
   * For a replication message: how far a follower that takes it may commit (the leader's commit
   * index, capped at what the message leaves the follower holding); undefined for other messages.
   */
  commitReach(m: Msg): number | undefined;
  /** A commit notice: replication with no entries, sent only because the commit index moved. */
  isNotice(m: Msg): boolean;
  /** `a` and then `b` as one message when they can be (consecutive entries of one epoch), else undefined. */
  merge(a: Msg, b: Msg): Msg | undefined;
}

/** How the seeded simulator (libs/testkit) builds an engine and checks its own invariants. */
export interface SimAdapter<Msg extends Addressed, Rec, Meta> {
  /** A node at the simulator's scale: small messages and snapshot chunks, so streaming is exercised. */
  create(config: EngineConfig, durable?: DurableState<Rec, Meta>): ConsensusEngine<Msg, Rec, Meta>;
  /**
   * The engine's own invariants over the live nodes, checked after every event; the first violation
   * described, or undefined. `state` persists across the calls of one run.
   */
  checkInvariants?(engines: ReadonlyMap<NodeId, ConsensusEngine<Msg, Rec, Meta>>, state: Map<string, unknown>): string | undefined;
  /** A message in one line, for failure traces. */
  describe?(m: Msg): string;
}

/** A value kept across the invariant checks of one simulation run (`checkInvariants`' `state`), made on first use. */
export function runState<T>(state: Map<string, unknown>, key: string, make: () => T): T {
  let v = state.get(key) as T | undefined;
  if (v === undefined) {
    v = make();
    state.set(key, v);
  }
  return v;
}
