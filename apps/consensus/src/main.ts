import { setFlagsFromString } from 'node:v8';
import { DEFAULT_MAX_REQUEST_BYTES } from '@synod/protocol';
import { PaxosNode, type PaxosMessage } from '@synod/paxos';
import { PaxosWalStorage } from '@synod/paxos-wal';
import { RaftNode, type RaftMessage } from '@synod/raft';
import { RaftWalStorage } from '@synod/raft-wal';
import { snapshotBytes, type Addressed, type ConsensusEngine, type DurableState } from '@synod/replog';
import { Counter, DEFAULT_HEAP_TRIM, env, runService, startHeapTrimmer, type Logger } from '@synod/service-kit';
import type { KvApplyResult } from '@synod/kv-state';
import type { WalWarning } from '@synod/wal';
import { consensusEnv } from './config.js';
import { EngineHost, type EngineStorage } from './engine-host.js';
import { KvService } from './kv-service.js';
import { decodePaxosMessage, encodePaxosMessage } from './paxos-codec.js';
import { raftThriftyCodec, type ThriftyCodec } from './thrifty.js';
import { PeerTransport, raftPeerCodec, type PeerCodec } from './transport.js';

type Config = {
  [K in keyof typeof consensusEnv]: (typeof consensusEnv)[K] extends { parse(v: unknown): infer T } ? T : never;
};

/** One engine, its storage on the WAL and its wire format: everything engine-specific in a replica. */
interface EngineParts<Msg extends Addressed & { type: string }, Rec, Meta> {
  engine: ConsensusEngine<Msg, Rec, Meta>;
  storage: EngineStorage<Msg, Rec, Meta>;
  durable: DurableState<Rec, Meta> | undefined;
  codec: PeerCodec<Msg>;
  /** Set for an engine that thrifty replication knows how to read (Raft). */
  thrifty?: ThriftyCodec<Msg>;
}

async function openRaft(config: Config, onWarning: (w: WalWarning) => void): Promise<EngineParts<RaftMessage, unknown, unknown>> {
  const { storage, durable } = await RaftWalStorage.open({ dir: config.DATA_DIR, segmentBytes: config.WAL_SEGMENT_BYTES, onWarning });
  const engine = new RaftNode(
    {
      id: config.NODE_ID,
      initialMembership: { voters: config.PEERS, learners: [] },
      random: Math.random,
      heartbeatTicks: config.HEARTBEAT_TICKS,
      electionTicks: config.ELECTION_TICKS,
      maxUncommittedBytes: config.MAX_UNCOMMITTED_BYTES,
      snapshotTrailingEntries: config.SNAPSHOT_TRAILING_ENTRIES,
    },
    durable,
  );
  return { engine, storage, durable, codec: raftPeerCodec, thrifty: raftThriftyCodec } as EngineParts<RaftMessage, unknown, unknown>;
}

async function openPaxos(config: Config, onWarning: (w: WalWarning) => void): Promise<EngineParts<PaxosMessage, unknown, unknown>> {
  const { storage, durable } = await PaxosWalStorage.open({ dir: config.DATA_DIR, segmentBytes: config.WAL_SEGMENT_BYTES, onWarning });
  const engine = new PaxosNode(
    {
      id: config.NODE_ID,
      initialMembership: { voters: config.PEERS, learners: [] },
      random: Math.random,
      heartbeatTicks: config.HEARTBEAT_TICKS,
      electionTicks: config.ELECTION_TICKS,
      maxUncommittedBytes: config.MAX_UNCOMMITTED_BYTES,
      snapshotTrailingEntries: config.SNAPSHOT_TRAILING_ENTRIES,
      window: config.PAXOS_WINDOW,
    },
    durable,
  );
  return { engine, storage, durable, codec: { encode: encodePaxosMessage, decode: decodePaxosMessage } } as EngineParts<PaxosMessage, unknown, unknown>;
}

function openEngine(config: Config, log: Logger): Promise<EngineParts<Addressed & { type: string }, unknown, unknown>> {
  const onWarning = (w: WalWarning) => log.warn({ wal: w }, 'WAL repaired on open');
  return (config.ENGINE === 'paxos' ? openPaxos(config, onWarning) : openRaft(config, onWarning)) as Promise<EngineParts<Addressed & { type: string }, unknown, unknown>>;
}

await runService({
  service: 'consensus',
  env: {
    ...consensusEnv,
    MAX_REQUEST_BYTES: env.int({ min: 1024, max: 900 * 1024, default: DEFAULT_MAX_REQUEST_BYTES * 3 }),
    SESSION_TTL_MS: env.int({ min: 1000, max: 7 * 24 * 3600 * 1000, default: 10 * 60 * 1000 }),
    RETAIN_REVISIONS: env.int({ min: 0, max: 1e9, default: 100_000 }),
  },
  instanceId: (c) => c.NODE_ID,
  validate: (c) =>
    c.HEARTBEAT_TICKS >= c.ELECTION_TICKS
      ? [{ variable: 'HEARTBEAT_TICKS', expected: `expected fewer ticks than ELECTION_TICKS (${c.ELECTION_TICKS})`, received: String(c.HEARTBEAT_TICKS) }]
      : [],
  async start({ config, log, bus, metrics }) {
    // `compact`: V8 sizes the heap for memory (it reads the flag whenever it sizes the heap after a
    // GC, so setting it before the store is loaded is enough). Measured with 100,000 keys: RSS
    // ~145-155 MB instead of ~215-290, but half the write throughput (V8 also optimises less code).
    if (config.HEAP_MODE === 'compact') setFlagsFromString('--optimize-for-size');
    const { engine, storage, durable, codec, thrifty } = await openEngine(config, log);
    const kv = new KvService({
      nc: bus.nc,
      namespace: config.SYNOD_NAMESPACE,
      id: config.NODE_ID,
      log,
      metrics,
      maxRequestBytes: config.MAX_REQUEST_BYTES,
      sweepMs: config.TICK_MS,
      sessionTtlMs: config.SESSION_TTL_MS,
      retainRevisions: config.RETAIN_REVISIONS,
      watchInboxPrefixes: config.WATCH_INBOX_PREFIXES,
      engine: config.ENGINE,
      // Both engines draw an election timeout from ELECTION_TICKS..2x ticks.
      maxElectionTimeoutMs: 2 * config.ELECTION_TICKS * config.TICK_MS,
    });
    const sm = kv.stateMachine();
    // A restart: the state machine starts from the snapshot, the log tail is applied on top.
    if (durable?.snapshot) sm.restore(snapshotBytes(durable.snapshot.data), durable.snapshot.index);
    const transport = new PeerTransport(
      bus.nc,
      config.SYNOD_NAMESPACE,
      config.NODE_ID,
      log.child({ component: 'transport' }),
      (m) => host.receive(m),
      codec,
      config.DROP_LOG_INTERVAL_MS,
    );
    const host: EngineHost<Addressed & { type: string }, unknown, unknown, KvApplyResult> = new EngineHost({
      engine,
      storage,
      sm,
      send: (msgs) => transport.send(msgs),
      log,
      engineName: config.ENGINE,
      tickMs: config.TICK_MS,
      snapshotEvery: config.SNAPSHOT_EVERY,
      snapshotLogRatio: config.SNAPSHOT_LOG_PERCENT / 100,
      initialSnapshotBytes: durable?.snapshot?.data.length,
      onRoleChange: (role) => kv.onRoleChange(role),
      onApplied: () => kv.onApplied(),
      ...(thrifty ? { thrifty: { codec: thrifty, holdMs: config.THRIFTY_HOLD_MS, hedgeMinMs: config.THRIFTY_HEDGE_MS } } : {}),
    });
    new Counter({
      name: 'synod_commit_notices_total',
      help: "A leader's commit notices: sent after their short hold, or dropped because the next append to that follower carried the commit",
      labelNames: ['outcome'],
      registers: [metrics],
      collect() {
        this.reset();
        this.inc({ outcome: 'sent' }, host.noticeStats.sent);
        this.inc({ outcome: 'dropped' }, host.noticeStats.dropped);
      },
    });
    new Counter({
      name: 'synod_thrifty_appends_total',
      help: "Thrifty replication on a leader: appends held for the followers a quorum did not need, batches of them sent, and hedges (a quorum follower was late, so everything held went at once)",
      labelNames: ['event'],
      registers: [metrics],
      collect() {
        this.reset();
        const s = host.thriftyStats;
        this.inc({ event: 'held' }, s.held);
        this.inc({ event: 'batch' }, s.flushed);
        this.inc({ event: 'hedge' }, s.hedges);
      },
    });
    transport.start();
    kv.start(host);
    host.start();
    const trimmer =
      config.HEAP_TRIM_QUIET_MS > 0
        ? startHeapTrimmer({ log: log.child({ component: 'heap' }), metrics, options: { ...DEFAULT_HEAP_TRIM, quietMs: config.HEAP_TRIM_QUIET_MS } })
        : undefined;
    log.info({ engine: config.ENGINE, voters: host.status().membership.voters, restoredFrom: durable?.snapshot?.index ?? 0, entries: durable?.records.length ?? 0 }, 'replica started');
    return {
      ready: { nodeId: config.NODE_ID, dataDir: config.DATA_DIR, engine: config.ENGINE },
      checks: [{ name: config.ENGINE, ok: () => host.status().leader !== undefined }],
      async stop() {
        trimmer?.stop();
        // Rolling restarts: a leader hands over before leaving, so writes pause only briefly.
        if (host.status().role === 'leader') {
          const st = host.status();
          const to = st.progress && Object.entries(st.progress).filter(([id]) => id !== config.NODE_ID && st.membership.voters.includes(id)).sort((a, b) => b[1].match - a[1].match)[0]?.[0];
          if (to) {
            await host.transferLeadership(to).catch((err: unknown) => log.warn({ err }, 'leadership transfer failed'));
            const until = Date.now() + config.TICK_MS * config.ELECTION_TICKS;
            while (host.status().role === 'leader' && Date.now() < until) await new Promise((r) => setTimeout(r, config.TICK_MS / 2));
            log.info({ to, handedOver: host.status().role !== 'leader' }, 'leadership transfer on shutdown');
          }
        }
        await kv.stop(config.SHUTDOWN_TIMEOUT_MS);
        transport.stop();
        await host.stop();
        await storage.close();
      },
    };
  },
});
