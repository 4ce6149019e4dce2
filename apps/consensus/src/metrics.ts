import type { HostStats } from '@synod/engine-host';
import type { EngineStatus } from '@synod/replog';
import { Counter, Gauge, Histogram, type Registry } from '@synod/service-kit';
import type { WalTiming } from '@synod/wal';

/** What a replica's metrics read at scrape time: the driver, the transport and the store's state. */
export interface ReplicaMetricsSource {
  status(): EngineStatus;
  readonly stats: Readonly<HostStats>;
  readonly appliedIndex: number;
  readonly snapshotBytes: number;
  readonly noticeStats: { sent: number; dropped: number };
  readonly thriftyStats: { held: number; flushed: number; hedges: number };
  readonly peers: { received: ReadonlyMap<string, number>; sent: ReadonlyMap<string, number>; dropped: number };
  readonly leaseCount: number;
}

/** fdatasync on a local SSD takes tens of µs to a few ms; etcd alerts at a p99 over 0.5 s. */
const DISK_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SNAPSHOT_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Every metric of a replica, on `registry`. Gauges and the driver's counters are read from the
 * source at scrape time (`attach`); the WAL's and snapshots' durations are observed as they happen.
 * Made before the WAL opens, so its timings are seen from the first write.
 */
export class ReplicaMetrics {
  private source: ReplicaMetricsSource | undefined;
  /** Store requests by type and outcome (the KV service counts them). */
  readonly kvRequests: Counter<'type' | 'outcome'>;
  private readonly walAppend: Histogram;
  private readonly walFsync: Histogram;
  private readonly snapshotDuration: Histogram;

  constructor(registry: Registry) {
    const read = <T>(f: (s: ReplicaMetricsSource) => T): T | undefined => (this.source ? f(this.source) : undefined);
    const gauge = (name: string, help: string, value: (s: ReplicaMetricsSource) => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const v = read(value);
          if (v !== undefined) this.set(v);
        },
      });
    };
    gauge('synod_consensus_has_leader', 'Whether this replica knows a leader (1) or not (0)', (s) => (s.status().leader === undefined ? 0 : 1));
    gauge('synod_consensus_is_leader', 'Whether this replica is the leader (1) or not (0)', (s) => (s.status().role === 'leader' ? 1 : 0));
    gauge('synod_consensus_term', "The engine's term (Raft) or ballot round (Multi-Paxos): grows with every leadership change", (s) => s.status().epoch);
    gauge('synod_consensus_commit_index', 'Index of the last entry this replica knows committed', (s) => s.status().commitIndex);
    gauge('synod_consensus_applied_index', 'Index of the last entry applied to the store on this replica', (s) => s.appliedIndex);
    gauge('synod_consensus_apply_lag_entries', 'Entries committed but not yet applied here (commit index minus applied index)', (s) =>
      Math.max(0, s.status().commitIndex - s.appliedIndex),
    );
    gauge('synod_snapshot_size_bytes', 'Size of the newest snapshot: taken here, installed from the leader, or started from', (s) => s.snapshotBytes);
    gauge('synod_store_leases', 'Leases granted and not yet revoked or expired', (s) => s.leaseCount);

    new Counter({
      name: 'synod_consensus_leader_changes_total',
      help: 'Times this replica saw a leader different from the last one it knew',
      registers: [registry],
      collect() {
        const v = read((s) => s.stats.leaderChanges);
        if (v === undefined) return;
        this.reset();
        this.inc(v);
      },
    });
    new Counter({
      name: 'synod_consensus_proposals_failed_total',
      help: 'Proposals that did not commit, by reason: the engine refusal (NOT_LEADER, OVERLOADED, TRANSFERRING, ...), LOST (another leader took the index), SHUTTING_DOWN, INTERNAL',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        const failed = read((s) => s.stats.proposalsFailed);
        if (failed === undefined) return;
        this.reset();
        for (const [reason, n] of failed) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'synod_consensus_peer_messages_total',
      help: 'Peer messages by direction (sent, received) and type',
      labelNames: ['direction', 'type'],
      registers: [registry],
      collect() {
        const peers = read((s) => s.peers);
        if (peers === undefined) return;
        this.reset();
        for (const [type, n] of peers.sent) this.inc({ direction: 'sent', type }, n);
        for (const [type, n] of peers.received) this.inc({ direction: 'received', type }, n);
      },
    });
    new Counter({
      name: 'synod_consensus_peer_messages_dropped_total',
      help: 'Peer messages dropped on arrival: malformed, or addressed to another node',
      registers: [registry],
      collect() {
        const v = read((s) => s.peers.dropped);
        if (v === undefined) return;
        this.reset();
        this.inc(v);
      },
    });
    new Counter({
      name: 'synod_commit_notices_total',
      help: "A leader's commit notices: sent after their short hold, or dropped because the next append to that follower carried the commit",
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const n = read((s) => s.noticeStats);
        if (n === undefined) return;
        this.reset();
        this.inc({ outcome: 'sent' }, n.sent);
        this.inc({ outcome: 'dropped' }, n.dropped);
      },
    });
    new Counter({
      name: 'synod_thrifty_appends_total',
      help: 'Thrifty replication on a leader: appends held for the followers a quorum did not need, batches of them sent, and hedges (a quorum follower was late, so everything held went at once)',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        const t = read((s) => s.thriftyStats);
        if (t === undefined) return;
        this.reset();
        this.inc({ event: 'held' }, t.held);
        this.inc({ event: 'batch' }, t.flushed);
        this.inc({ event: 'hedge' }, t.hedges);
      },
    });
    this.kvRequests = new Counter({ name: 'synod_kv_requests_total', help: 'Store requests by type and outcome', labelNames: ['type', 'outcome'], registers: [registry] });
    this.walAppend = new Histogram({
      name: 'synod_wal_append_duration_seconds',
      help: 'Time to make one group-commit batch of log records durable (write and fdatasync)',
      buckets: DISK_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.walFsync = new Histogram({
      name: 'synod_wal_fsync_duration_seconds',
      help: 'Time in fdatasync, for log batches and metadata writes alike',
      buckets: DISK_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.snapshotDuration = new Histogram({
      name: 'synod_snapshot_duration_seconds',
      help: 'Time to write a local snapshot, in the background, until it is durable',
      buckets: SNAPSHOT_BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  /** From now on the gauges and the driver's counters read `source`. */
  attach(source: ReplicaMetricsSource): void {
    this.source = source;
  }

  walTiming(t: WalTiming): void {
    if (t.kind === 'append') this.walAppend.observe((t.writeMs + t.syncMs) / 1000);
    this.walFsync.observe(t.syncMs / 1000);
  }

  snapshotTaken(s: { ms: number }): void {
    this.snapshotDuration.observe(s.ms / 1000);
  }
}
