import { DEFAULT_MAX_REQUEST_BYTES } from '@synod/protocol';
import { RaftNode } from '@synod/raft';
import { RaftWalStorage } from '@synod/raft-wal';
import { env, runService } from '@synod/service-kit';
import type { KvApplyResult } from '@synod/kv-state';
import { consensusEnv } from './config.js';
import { KvService } from './kv-service.js';
import { RaftHost } from './raft-host.js';
import { PeerTransport } from './transport.js';

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
    const { storage, durable } = await RaftWalStorage.open({
      dir: config.DATA_DIR,
      segmentBytes: config.WAL_SEGMENT_BYTES,
      onWarning: (w) => log.warn({ wal: w }, 'WAL repaired on open'),
    });
    const node = new RaftNode(
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
    });
    const sm = kv.stateMachine();
    // A restart: the state machine starts from the snapshot, the log tail is applied on top.
    if (durable?.snapshot) sm.restore(durable.snapshot.data, durable.snapshot.index);
    const transport = new PeerTransport(bus.nc, config.SYNOD_NAMESPACE, config.NODE_ID, log.child({ component: 'transport' }), (m) => host.receive(m));
    const host: RaftHost<KvApplyResult> = new RaftHost({
      node,
      storage,
      sm,
      send: (msgs) => transport.send(msgs),
      log,
      tickMs: config.TICK_MS,
      snapshotEvery: config.SNAPSHOT_EVERY,
      onRoleChange: (role) => kv.onRoleChange(role),
      onApplied: () => kv.onApplied(),
    });
    transport.start();
    kv.start(host);
    host.start();
    log.info({ voters: node.membership.voters, restoredFrom: durable?.snapshot?.index ?? 0, entries: durable?.records.length ?? 0 }, 'replica started');
    return {
      ready: { nodeId: config.NODE_ID, dataDir: config.DATA_DIR, engine: config.ENGINE },
      checks: [{ name: 'raft', ok: () => host.status().leader !== undefined }],
      async stop() {
        // Rolling restarts: a leader hands over before leaving, so writes pause only briefly.
        if (host.status().role === 'leader') {
          const to = host.status().progress && Object.entries(host.status().progress!).filter(([id]) => id !== config.NODE_ID && node.membership.voters.includes(id)).sort((a, b) => b[1].match - a[1].match)[0]?.[0];
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
