import { z } from 'zod';
import { DEFAULT_ENGINE, ENGINES, KNOWN_ENGINES } from '@synod/engines';
import { DEFAULT_MAX_REQUEST_BYTES, NodeIdSchema, WatchInbox } from '@synod/protocol';
import { env } from '@synod/service-kit';

/** Comma-separated node ids (PEERS, and `restore --peers`). */
export const NodeIdList = z
  .string({ error: 'expected comma-separated node ids, e.g. n1,n2,n3' })
  .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p.length > 0))
  .pipe(z.array(NodeIdSchema).min(1, 'expected at least one node id').max(9, 'expected at most 9 voters'));

/** An engine of the replica's table (ENGINE, and `restore --engine`). */
export const EngineName = z.string({ error: KNOWN_ENGINES }).refine((v) => ENGINES.has(v), { error: KNOWN_ENGINES });

/** Environment of a replica, beyond the variables every app takes: every variable it reads is here. */
export const consensusEnv = {
  NODE_ID: env.of(NodeIdSchema),
  /** Initial voters, comma-separated; used only to bootstrap an empty data dir. */
  PEERS: env.of(NodeIdList),
  DATA_DIR: env.of(z.string({ error: 'expected a directory path for the WAL and snapshots' }).min(1)),
  /** The consensus engine (the store does not know which): a name of the engine table. */
  ENGINE: env.of(EngineName.default(DEFAULT_ENGINE)),
  /** One engine tick: the heartbeat interval is HEARTBEAT_TICKS ticks, the election timeout ELECTION_TICKS..2x. */
  TICK_MS: env.int({ min: 5, max: 10_000, default: 100 }),
  HEARTBEAT_TICKS: env.int({ min: 1, max: 100, default: 1 }),
  ELECTION_TICKS: env.int({ min: 2, max: 1000, default: 10 }),
  /** Take a state-machine snapshot (and release WAL segments) after this many applied entries. */
  SNAPSHOT_EVERY: env.int({ min: 1, max: 10_000_000, default: 10_000 }),
  /**
   * ...and once the entries since the last snapshot hold this percentage of its size (0: off): a
   * large store is snapshotted less often, so snapshots cost at most 100/P bytes written per log byte.
   */
  SNAPSHOT_LOG_PERCENT: env.int({ min: 0, max: 10_000, default: 25 }),
  /** Entries kept below a snapshot, so a slightly lagging follower needs no snapshot transfer. */
  SNAPSHOT_TRAILING_ENTRIES: env.int({ min: 0, max: 10_000_000, default: 1000 }),
  /** Multi-Paxos only: α, the slots a configuration change waits before it decides (and the most slots in flight). */
  PAXOS_WINDOW: env.int({ min: 1, max: 1_000_000, default: 1024 }),
  /**
   * A leader holds its appends to the followers a quorum does not need for up to this long and
   * sends them in batches (thrifty replication; 0: every follower gets every append at once).
   * Those followers' copies lag by at most this much.
   */
  THRIFTY_HOLD_MS: env.int({ min: 0, max: 1000, default: 5 }),
  /** ...unless a quorum follower's acknowledgement is this late (or 3x its usual delay, if more): then all go at once. */
  THRIFTY_HEDGE_MS: env.int({ min: 1, max: 1000, default: 2 }),
  MAX_UNCOMMITTED_BYTES: env.int({ min: 1024, max: 1024 ** 3, default: 64 * 1024 * 1024 }),
  /** Largest store request accepted, in bytes. */
  MAX_REQUEST_BYTES: env.int({ min: 1024, max: 900 * 1024, default: DEFAULT_MAX_REQUEST_BYTES * 3 }),
  /** Exactly-once sessions of clients silent this long are dropped through the log. */
  SESSION_TTL_MS: env.int({ min: 1000, max: 7 * 24 * 3600 * 1000, default: 10 * 60 * 1000 }),
  /** History older than this many revisions is compacted by the leader (0: never automatically). */
  RETAIN_REVISIONS: env.int({ min: 0, max: 1e9, default: 100_000 }),
  /**
   * `throughput` (default): V8's heap sizing. `compact`: `--optimize-for-size`, the heap stays near
   * the live data (RSS with 100,000 keys ~150 MB instead of ~215-290) at about half the write
   * throughput.
   */
  HEAP_MODE: env.oneOf(['throughput', 'compact'] as const, 'throughput'),
  /**
   * Compact the heap once the replica has been quiet (event loop under 5 % busy) this long after its
   * heap grew by half since the last compaction (and by 64 MB at least); 0: never. The GC pauses the
   * replica (≈200 ms with 100,000 keys), so this waits for a lull; V8 alone keeps a heap it grew
   * while loading for tens of seconds or for good.
   */
  HEAP_TRIM_QUIET_MS: env.int({ min: 0, max: 3_600_000, default: 10_000 }),
  WAL_SEGMENT_BYTES: env.int({ min: 4096, max: 1024 ** 3, default: 64 * 1024 * 1024 }),
  /**
   * Subjects under which clients that set their own inbox prefix may receive watch events, besides
   * `_INBOX.` (comma-separated literal prefixes, e.g. `billing.replies`). A watch naming any other
   * inbox is refused.
   */
  WATCH_INBOX_PREFIXES: env.of(
    z
      .string({ error: 'expected comma-separated literal subject prefixes, e.g. billing.replies' })
      .transform((s) => s.split(',').map((p) => p.trim().replace(/\.$/, '')).filter((p) => p.length > 0))
      .pipe(z.array(WatchInbox, { error: 'expected comma-separated literal subject prefixes (no * or > token)' }).max(32))
      .default([]),
  ),
};

/** The replica's configuration as `runService` parses it. */
export type ConsensusConfig = {
  [K in keyof typeof consensusEnv]: z.output<(typeof consensusEnv)[K]>;
};
