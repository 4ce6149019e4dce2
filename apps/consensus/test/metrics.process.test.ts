import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, ReplicaCluster } from '@synod/cluster-kit';
import { metricSamples, metricSum, scrapeMetrics } from '@synod/testkit';

/** A snapshot every few entries, so this test sees one taken on every replica. */
const SNAPSHOT_EVERY = 20;
const WRITES = 3 * SNAPSHOT_EVERY;

describe.each(ENGINES)('%s: replica metrics after traffic', (engine) => {
  let c: ReplicaCluster;

  beforeAll(async () => {
    c = await ReplicaCluster.start(3, { HTTP_PORT: '0', SNAPSHOT_EVERY: String(SNAPSHOT_EVERY), SNAPSHOT_LOG_PERCENT: '0' }, { engine });
  });

  afterAll(async () => {
    await c?.stop();
  });

  const scrape = (id: string): Promise<string> => scrapeMetrics(c.app(id).lines.find((l) => l.msg === 'ready')?.httpPort as number);
  const value = (text: string, name: string): number => {
    const s = metricSamples(text, name);
    expect(s, name).toHaveLength(1);
    expect(s[0]!.labels).toEqual({ app: 'consensus' });
    return s[0]!.value;
  };

  it('has a leader on every replica and exactly one that leads, at one term; indexes, WAL, snapshots, peers and leases move', async () => {
    await c.leader();
    for (let i = 0; i < WRITES; i++) await c.put(`metrics/${i % 5}`, String(i));
    const lease = (await c.write({ op: 'leaseGrant', ttlMs: 60_000 })) as { id: number };
    expect(lease.id).toBeGreaterThan(0);
    // Followers apply what the leader committed within a few heartbeats; snapshots are written in the background.
    const settled = async (id: string): Promise<string> => {
      const until = Date.now() + 10_000;
      for (;;) {
        const text = await scrape(id);
        const caughtUp = value(text, 'synod_consensus_applied_index') >= value(text, 'synod_consensus_commit_index') && value(text, 'synod_store_leases') === 1;
        if ((caughtUp && metricSum(text, 'synod_snapshot_duration_seconds_count') > 0) || Date.now() > until) return text;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // One scrape of every replica taken while leadership held still: on a loaded machine a leader may
    // change between two scrapes, and then the set is taken again.
    const scrapeAll = async (): Promise<Map<string, string>> => {
      const texts = new Map<string, string>();
      for (const id of c.ids) texts.set(id, await settled(id));
      return texts;
    };
    const stable = (texts: Map<string, string>): boolean => {
      const all = [...texts.values()];
      const isLeader = all.map((t) => metricSum(t, 'synod_consensus_is_leader'));
      return isLeader.filter((v) => v === 1).length === 1 && new Set(all.map((t) => metricSum(t, 'synod_consensus_term'))).size === 1;
    };
    let texts = await scrapeAll();
    for (let i = 0; i < 10 && !stable(texts); i++) texts = await scrapeAll();

    const terms = new Set<number>();
    let leaders = 0;
    for (const [id, text] of texts) {
      expect(value(text, 'synod_consensus_has_leader'), id).toBe(1);
      leaders += value(text, 'synod_consensus_is_leader');
      terms.add(value(text, 'synod_consensus_term'));
      expect(value(text, 'synod_consensus_leader_changes_total'), id).toBeGreaterThanOrEqual(1);
      // The revision counts puts only; the log also holds the leader's no-op, the lease and sessions.
      expect(value(text, 'synod_consensus_commit_index'), id).toBeGreaterThanOrEqual(WRITES);
      expect(value(text, 'synod_consensus_applied_index'), id).toBe(value(text, 'synod_consensus_commit_index'));
      expect(value(text, 'synod_consensus_apply_lag_entries'), id).toBe(0);
      expect(value(text, 'synod_store_leases'), id).toBe(1);
      // Group commit: at most one batch per write, at least one fsync per batch.
      const batches = metricSum(text, 'synod_wal_append_duration_seconds_count');
      expect(batches, id).toBeGreaterThan(0);
      expect(metricSum(text, 'synod_wal_fsync_duration_seconds_count'), id).toBeGreaterThanOrEqual(batches);
      expect(metricSum(text, 'synod_wal_fsync_duration_seconds_sum'), id).toBeGreaterThan(0);
      expect(metricSum(text, 'synod_snapshot_duration_seconds_count'), id).toBeGreaterThan(0);
      expect(value(text, 'synod_snapshot_size_bytes'), id).toBeGreaterThan(0);
      expect(metricSum(text, 'synod_consensus_peer_messages_total', { direction: 'sent' }), id).toBeGreaterThan(0);
      expect(metricSum(text, 'synod_consensus_peer_messages_total', { direction: 'received' }), id).toBeGreaterThan(0);
      // No proposal failed in a healthy cluster; the family is there (a failure adds its reason).
      expect(text).toContain('# TYPE synod_consensus_proposals_failed_total counter');
      expect(metricSum(text, 'synod_consensus_proposals_failed_total'), id).toBe(0);
      expect(metricSamples(text, 'process_cpu_user_seconds_total')).toHaveLength(1);
    }
    expect(leaders).toBe(1);
    expect(terms.size).toBe(1);
    // Writes reach the leader of their time: summed over the replicas.
    expect([...texts.values()].reduce((n, t) => n + metricSum(t, 'synod_kv_requests_total', { outcome: 'ok' }), 0)).toBeGreaterThanOrEqual(WRITES);
  });
});
