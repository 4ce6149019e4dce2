import { setFlagsFromString } from 'node:v8';
import { EngineHost, type ReplicaHost } from '@synod/engine-host';
import { engineNamed } from '@synod/engines';
import { kvLeases, ReplicatedKv, type KvApplyResult } from '@synod/kv-state';
import { snapshotBytes, type PeerMessage } from '@synod/replog';
import { DEFAULT_HEAP_TRIM, phases, publishPhase, runService, startHeapTrimmer, type Logger } from '@synod/service-kit';
import { EngineWalStorage } from '@synod/wal';
import { consensusEnv } from './config.js';
import { bestSuccessor, KvService } from './kv/service.js';
import { ReplicaMetrics } from './metrics.js';
import { restore } from './restore.js';
import { PeerTransport } from './transport.js';

// `main.js restore ...` seeds a data directory offline (restore.ts); anything else runs a replica.
if (process.argv[2] === 'restore') {
  process.exitCode = await restore(
    process.argv.slice(3),
    (line) => process.stdout.write(`${line}\n`),
    (line) => process.stderr.write(`${line}\n`),
  );
} else {
  await runService({
    service: 'consensus',
    env: consensusEnv,
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

      // The engine, and what it persisted (config.ts checked that ENGINE names one of the table).
      const engine = engineNamed(config.ENGINE);
      const replicaMetrics = new ReplicaMetrics(metrics);
      const { storage, durable } = await EngineWalStorage.open(
        {
          dir: config.DATA_DIR,
          segmentBytes: config.WAL_SEGMENT_BYTES,
          onWarning: (w) => log.warn({ wal: w }, 'WAL repaired on open'),
          onTiming: (t) => replicaMetrics.walTiming(t),
        },
        engine.wal,
      );
      const node = engine.create(
        {
          id: config.NODE_ID,
          initialMembership: { voters: config.PEERS, learners: [] },
          random: Math.random,
          heartbeatTicks: config.HEARTBEAT_TICKS,
          electionTicks: config.ELECTION_TICKS,
          maxUncommittedBytes: config.MAX_UNCOMMITTED_BYTES,
          snapshotTrailingEntries: config.SNAPSHOT_TRAILING_ENTRIES,
          tuning: { window: config.PAXOS_WINDOW },
        },
        durable,
      );

      // The store's state: a restart starts from the snapshot, the log tail is applied on top.
      const state = new ReplicatedKv((index, problem) => log.error({ index }, problem));
      if (durable?.snapshot) state.restore(snapshotBytes(durable.snapshot.data));

      // Its API on the bus, and the peers on the bus.
      const kv = new KvService({
        nc: bus.nc,
        namespace: config.SYNOD_NAMESPACE,
        id: config.NODE_ID,
        log,
        requests: replicaMetrics.kvRequests,
        state,
        maxRequestBytes: config.MAX_REQUEST_BYTES,
        sweepMs: config.TICK_MS,
        sessionTtlMs: config.SESSION_TTL_MS,
        retainRevisions: config.RETAIN_REVISIONS,
        watchInboxPrefixes: config.WATCH_INBOX_PREFIXES,
        engine: engine.name,
        // Both engines draw an election timeout from ELECTION_TICKS..2x ticks.
        maxElectionTimeoutMs: 2 * config.ELECTION_TICKS * config.TICK_MS,
      });
      const transport = new PeerTransport(bus.nc, config.SYNOD_NAMESPACE, config.NODE_ID, log.child({ component: 'transport' }), engine.codec, config.DROP_LOG_INTERVAL_MS);

      // The driver between them: the engine on the process clock, the WAL and the transport.
      const host = new EngineHost<PeerMessage, { index: number }, unknown, KvApplyResult>({
        engine: node,
        storage,
        sm: state,
        send: (msgs) => transport.send(msgs),
        hints: engine.hints,
        log,
        onPhase: (step) => phases.hasSubscribers && publishPhase(step),
        onFatal: () => {
          process.exitCode = 1;
          process.kill(process.pid, 'SIGTERM');
        },
        engineName: engine.name,
        tickMs: config.TICK_MS,
        snapshotEvery: config.SNAPSHOT_EVERY,
        snapshotLogRatio: config.SNAPSHOT_LOG_PERCENT / 100,
        initialSnapshotBytes: durable?.snapshot?.data.length,
        onRoleChange: (role) => kv.onRoleChange(role),
        onApplied: () => kv.onApplied(),
        onSnapshotTaken: (s) => replicaMetrics.snapshotTaken(s),
        leases: kvLeases(state),
        thrifty: { holdMs: config.THRIFTY_HOLD_MS, hedgeMinMs: config.THRIFTY_HEDGE_MS },
      });
      replicaMetrics.attach({
        status: () => host.status(),
        get stats() {
          return host.stats;
        },
        get appliedIndex() {
          return host.appliedIndex;
        },
        get snapshotBytes() {
          return host.snapshotBytes;
        },
        get noticeStats() {
          return host.noticeStats;
        },
        get thriftyStats() {
          return host.thriftyStats;
        },
        peers: transport,
        get leaseCount() {
          return state.sm.leaseCount;
        },
      });

      transport.start((m) => host.receive(m));
      kv.start(host);
      host.start();
      const trimmer =
        config.HEAP_TRIM_QUIET_MS > 0
          ? startHeapTrimmer({ log: log.child({ component: 'heap' }), metrics, options: { ...DEFAULT_HEAP_TRIM, quietMs: config.HEAP_TRIM_QUIET_MS } })
          : undefined;
      log.info({ engine: engine.name, voters: host.status().membership.voters, restoredFrom: durable?.snapshot?.index ?? 0, entries: durable?.records.length ?? 0 }, 'replica started');
      return {
        ready: { nodeId: config.NODE_ID, dataDir: config.DATA_DIR, engine: engine.name },
        checks: [{ name: engine.name, ok: () => host.status().leader !== undefined }],
        async stop() {
          trimmer?.stop();
          // Rolling restarts: a leader hands over before leaving, so writes pause only briefly.
          await handOver(host, config.NODE_ID, config.TICK_MS * config.ELECTION_TICKS, config.TICK_MS, log);
          await kv.stop(config.SHUTDOWN_TIMEOUT_MS);
          transport.stop();
          await host.stop();
          await storage.close();
        },
      };
    },
  });
}

/** A leader on its way out hands leadership to its most caught-up voter and waits up to `timeoutMs` for it to take over. */
async function handOver(host: ReplicaHost<unknown>, self: string, timeoutMs: number, pollMs: number, log: Logger): Promise<void> {
  if (host.status().role !== 'leader') return;
  const to = bestSuccessor(host, self);
  if (!to) return;
  await host.transferLeadership(to).catch((err: unknown) => log.warn({ err }, 'leadership transfer failed'));
  const until = Date.now() + timeoutMs;
  while (host.status().role === 'leader' && Date.now() < until) await new Promise((r) => setTimeout(r, pollMs / 2));
  log.info({ to, handedOver: host.status().role !== 'leader' }, 'leadership transfer on shutdown');
}
