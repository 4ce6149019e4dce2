import { LagMonitor, METRICS_PREFIX, proxyMetrics } from '@synod/balancer-gateway/metrics';
import { ReplicaMetrics } from '@synod/consensus/metrics';
import { LockMetrics } from '@synod/lock-manager/metrics';
import { RegistryListener, RoutingMetrics, WorkerRegistry } from '@synod/routing';
import { createMetricsRegistry, createRootLogger, Histogram, LabelBound, type Registry } from '@synod/service-kit';
import { workerMetrics } from '@synod/worker-sdk';

const log = createRootLogger({ service: 'observability-checks', instance: 'test', level: 'silent' });

/**
 * Each app's registry as the app fills it: the same constructors the apps call, given inert inputs
 * (nothing is scraped from them here). The process suites scrape the real apps.
 */
export function appRegistries(): Map<string, Registry> {
  const consensus = createMetricsRegistry({ app: 'consensus' });
  new ReplicaMetrics(consensus);

  const lockManager = createMetricsRegistry({ app: 'lock-manager' });
  new LockMetrics(lockManager, { storeWrites: () => ({ txns: 0, requests: 0 }), waiting: () => 0, holds: () => Promise.resolve(0), log });

  const gateway = createMetricsRegistry({ app: 'balancer-gateway' });
  const bound = new LabelBound(gateway, 10);
  const workers = new WorkerRegistry(1000);
  new RoutingMetrics({ registry: gateway, bound, prefix: METRICS_PREFIX }, workers, { pending: 0, pendingPeak: 0, inFlightPeak: () => 0, ejectedWorkers: () => 0 });
  new RegistryListener({
    nc: undefined as never,
    registry: workers,
    namespace: 'synod',
    gatewayId: 'g/1',
    sweepIntervalMs: 1000,
    log,
    metrics: { registry: gateway, prefix: METRICS_PREFIX },
    onChange: () => {},
  });
  new LagMonitor({ thresholdMs: 0, windowMs: 1000, metrics: { registry: gateway, prefix: METRICS_PREFIX } });
  proxyMetrics(gateway);

  const worker = createMetricsRegistry({ app: 'sample-worker' });
  workerMetrics(worker, () => 0);

  return new Map([
    ['consensus', consensus],
    ['lock-manager', lockManager],
    ['balancer-gateway', gateway],
    ['sample-worker', worker],
  ]);
}

/** The series names a registry exports: a histogram's are its `_bucket`, `_sum` and `_count`. */
export function seriesNames(registry: Registry): Set<string> {
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name;
    if (m instanceof Histogram) for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else names.add(name);
  }
  return names;
}
