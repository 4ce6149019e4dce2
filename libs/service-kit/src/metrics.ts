import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One metrics registry per process. Every series carries one label of its own, `app` (the app's
 * name): `instance` and `job` are Prometheus's to add from the target, and `service` stays free for
 * the gateway's routed service. Node's default metrics keep their standard names
 * (`process_cpu_user_seconds_total`, `nodejs_heap_size_used_bytes`) so stock Node dashboards work.
 */
export function createMetricsRegistry(labels: { app: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The label value that stands for every value a metric does not keep apart. */
export const UNKNOWN_LABEL_VALUE = '_unknown';

/**
 * Keeps label values that come from outside the process (service names, endpoints, worker ids)
 * from growing a metric without bound: each metric's label keeps at most `maxValues` distinct
 * values, `_unknown` included; later new values are folded into `_unknown` and counted in
 * `synod_metrics_label_values_folded_total{metric,label}`. Callers pass `_unknown` themselves for
 * values they know to be unknown (a service no worker serves).
 */
export class LabelBound {
  private readonly seen = new Map<string, Set<string>>();
  private readonly folded: Counter<'metric' | 'label'>;

  constructor(
    registry: Registry,
    /** Distinct values kept per metric and label, `_unknown` included (at least 1). */
    readonly maxValues: number,
  ) {
    this.folded = new Counter({
      name: 'synod_metrics_label_values_folded_total',
      help: 'Observations whose label value was folded into _unknown because the metric already had METRICS_MAX_LABEL_VALUES values for that label',
      labelNames: ['metric', 'label'],
      registers: [registry],
    });
  }

  /** `value`, or `_unknown` once `metric`'s `label` has as many distinct values as allowed. */
  value(metric: string, label: string, value: string): string {
    if (value === UNKNOWN_LABEL_VALUE) return value;
    const key = `${metric}\u0000${label}`;
    let values = this.seen.get(key);
    if (values === undefined) this.seen.set(key, (values = new Set()));
    if (values.has(value)) return value;
    // One place stays free for _unknown itself.
    if (values.size >= this.maxValues - 1) {
      this.folded.inc({ metric, label });
      return UNKNOWN_LABEL_VALUE;
    }
    values.add(value);
    return value;
  }
}
