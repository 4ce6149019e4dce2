import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { appRegistries, seriesNames } from './exported.js';
import { metricsOf, type MetricRef } from './promql.js';

const infra = join(import.meta.dirname, '..', '..', '..', 'infra');

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every panel query of every dashboard, with where it is. */
function panelQueries(): { where: string; expr: string }[] {
  const dir = join(infra, 'grafana', 'dashboards');
  const out: { where: string; expr: string }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const walk = (panels: Panel[] = []): void => {
      for (const p of panels) {
        for (const t of p.targets ?? []) if (t.expr !== undefined) out.push({ where: `${file}: ${p.title ?? '(untitled)'}`, expr: t.expr });
        walk(p.panels);
      }
    };
    walk((JSON.parse(readFileSync(join(dir, file), 'utf8')) as { panels: Panel[] }).panels);
  }
  return out;
}

/** Every alerting and recording rule. */
function rules(): { alert?: string; record?: string; expr: string }[] {
  const dir = join(infra, 'prometheus', 'rules');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .flatMap((f) => (parse(readFileSync(join(dir, f), 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules));
}

const registries = appRegistries();
const exported = new Map([...registries].map(([app, r]) => [app, seriesNames(r)]));
const recorded = new Set(rules().flatMap((r) => (r.record ? [r.record] : [])));

/** What is wrong with a query's metrics: a name no app exports, or one its `app` matcher's app does not. */
function problems(refs: MetricRef[]): string[] {
  return refs.flatMap(({ metric, app }) => {
    if (recorded.has(metric)) return [];
    if (app !== undefined) return exported.get(app)?.has(metric) ? [] : [`${metric} is not exported by app="${app}"`];
    return [...exported.values()].some((names) => names.has(metric)) ? [] : [`${metric} is exported by no app`];
  });
}

describe('the queries of infra/ read what the apps export', () => {
  it('finds the metrics of a query, and this check refuses a name no app exports', () => {
    expect(metricsOf('histogram_quantile(0.99, sum by (instance, le) (rate(synod_wal_fsync_duration_seconds_bucket{app="consensus"}[5m]))) > 0.5')).toEqual([
      { metric: 'synod_wal_fsync_duration_seconds_bucket', app: 'consensus' },
    ]);
    expect(metricsOf('sum(synod_lock_waiting{app="lock-manager"}) > 50 and deriv(sum(synod_lock_waiting)[10m:1m]) > 0 unless on (app) up == 0')).toEqual([
      { metric: 'synod_lock_waiting', app: 'lock-manager' },
      { metric: 'synod_lock_waiting', app: undefined },
      { metric: 'up', app: undefined },
    ]);
    expect(problems(metricsOf('rate(synod_consensus_leader_changes_total{app="consensus"}[5m])'))).toEqual([]);
    expect(problems(metricsOf('synod_consensus_has_leader{app="lock-manager"}'))).toEqual(['synod_consensus_has_leader is not exported by app="lock-manager"']);
    expect(problems(metricsOf('rate(synod_consensus_leader_elections_total[5m])'))).toEqual(['synod_consensus_leader_elections_total is exported by no app']);
  });

  it('the apps export the replica, lock and gateway metrics the issue names, Node defaults under their standard names', () => {
    for (const name of [
      'synod_consensus_has_leader',
      'synod_consensus_is_leader',
      'synod_consensus_term',
      'synod_consensus_leader_changes_total',
      'synod_consensus_commit_index',
      'synod_consensus_applied_index',
      'synod_consensus_apply_lag_entries',
      'synod_consensus_proposals_failed_total',
      'synod_wal_append_duration_seconds_bucket',
      'synod_wal_fsync_duration_seconds_bucket',
      'synod_snapshot_duration_seconds_bucket',
      'synod_snapshot_size_bytes',
      'synod_consensus_peer_messages_total',
      'synod_store_leases',
      'process_resident_memory_bytes',
    ]) {
      expect(exported.get('consensus'), name).toContain(name);
    }
    for (const name of [
      'synod_lock_grants_total',
      'synod_lock_waits_total',
      'synod_lock_waiting',
      'synod_lock_wait_duration_seconds_bucket',
      'synod_locks_held',
      'synod_lock_expiries_total',
      'synod_lock_fencing_refusals_total',
    ]) {
      expect(exported.get('lock-manager'), name).toContain(name);
    }
    for (const name of ['synod_gateway_requests_total', 'synod_gateway_workers_ejected', 'synod_metrics_label_values_folded_total']) expect(exported.get('balancer-gateway'), name).toContain(name);
    for (const names of exported.values()) {
      expect([...names].filter((n) => n.startsWith('synod_process_') || n.startsWith('synod_nodejs_'))).toEqual([]);
      // Prometheus naming: counters end in _total, and no unit but the base ones.
      expect([...names].filter((n) => /_(ms|milliseconds|kb|mb|percent)(_|$)/.test(n))).toEqual([]);
    }
  });

  it('every counter is named with _total', async () => {
    for (const registry of registries.values()) {
      const counters = (await registry.getMetricsAsJSON()).filter((m) => String(m.type) === 'counter').map((m) => m.name);
      expect(counters.filter((n) => !n.endsWith('_total'))).toEqual([]);
    }
  });

  it('every Grafana panel query names a metric the apps export', () => {
    const queries = panelQueries();
    expect(queries.length).toBeGreaterThan(20);
    const bad = queries.flatMap(({ where, expr }) => {
      const refs = metricsOf(expr);
      return refs.length === 0 ? [`${where}: no metric in ${expr}`] : problems(refs).map((p) => `${where}: ${p}`);
    });
    expect(bad).toEqual([]);
  });

  it('every alert expression names a metric the apps export', () => {
    const alerts = rules().filter((r) => r.alert !== undefined);
    const bad = alerts.flatMap((r) => {
      const refs = metricsOf(r.expr);
      return refs.length === 0 ? [`${r.alert}: no metric`] : problems(refs).map((p) => `${r.alert}: ${p}`);
    });
    expect(bad).toEqual([]);
  });

  it('the alerts an SRE needs exist, and each has a promtool unit test', () => {
    const alerts = rules().flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.sort()).toEqual(
      ['SynodApplyLag', 'SynodGateway5xx', 'SynodLeaderFlapping', 'SynodLockWaitsGrowing', 'SynodNoLeader', 'SynodProposalsFailing', 'SynodWalFsyncSlow', 'SynodWorkersEjected'].sort(),
    );
    const tests = parse(readFileSync(join(infra, 'prometheus', 'tests', 'synod.test.yml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect(alerts.filter((a) => !fired.has(a))).toEqual([]);
  });
});
