import { Counter, Gauge, type LabelBound, type Registry, UNKNOWN_LABEL_VALUE } from '@synod/service-kit';
import type { WorkerEntry, WorkerRegistry } from './registry.js';

export interface RoutingMetricsOptions {
  registry: Registry;
  /** Bounds the label values taken from announcements (services, workers). */
  bound: LabelBound;
  /** Metric names start with this (`synod_gateway`). */
  prefix: string;
}

/** What the gauges read from the router at scrape time. */
export interface RouterGauges {
  readonly pending: number;
  readonly pendingPeak: number;
  inFlightPeak(id: string): number;
  /** Workers of `service` that outlier detection holds out right now. */
  ejectedWorkers(service: string): number;
}

export type RejectReason = 'no-capacity' | 'queue-full' | 'lag' | 'budget';

interface WorkerLabels {
  service: string;
  worker: string;
  /** Label sets of the attempts counter by `outcome/code`, made on first use. */
  attempts: Map<string, { service: string; worker: string; outcome: string; code: string }>;
}

/**
 * The router's metrics, owned by the router: attempts per worker and outcome, ejections, retries,
 * hedges, refusals, and gauges of the registry and the queue. Label values come from announcements
 * and are bounded (`LabelBound`); each worker's label sets are built on its first attempt and kept
 * with it, so an attempt costs one counter increment on a ready-made label set.
 */
export class RoutingMetrics {
  private readonly attempts: Counter<'service' | 'worker' | 'outcome' | 'code'>;
  private readonly ejections: Counter<'service' | 'worker' | 'reason'>;
  private readonly retries: Counter<'service' | 'code'>;
  private readonly hedges: Counter<'service'>;
  private readonly rejected: Counter<'service' | 'reason'>;
  private readonly workerLabels = new WeakMap<WorkerEntry, WorkerLabels>();
  private readonly serviceLabels = new Map<string, string>();

  constructor(
    private readonly opts: RoutingMetricsOptions,
    private readonly workers: WorkerRegistry,
    gauges: RouterGauges,
  ) {
    const { registry, prefix } = opts;
    this.attempts = new Counter({
      name: `${prefix}_worker_attempts_total`,
      help: 'Requests sent to workers, by worker and outcome',
      labelNames: ['service', 'worker', 'outcome', 'code'],
      registers: [registry],
    });
    this.ejections = new Counter({
      name: `${prefix}_ejections_total`,
      help: 'Workers ejected by outlier detection, by reason',
      labelNames: ['service', 'worker', 'reason'],
      registers: [registry],
    });
    this.retries = new Counter({
      name: `${prefix}_retries_total`,
      help: 'Requests retried on another worker, by the failure retried',
      labelNames: ['service', 'code'],
      registers: [registry],
    });
    this.hedges = new Counter({
      name: `${prefix}_hedges_total`,
      help: 'Second tries of idempotent requests sent while the first was still out (HEDGE_IDEMPOTENT)',
      labelNames: ['service'],
      registers: [registry],
    });
    this.rejected = new Counter({
      name: `${prefix}_rejected_total`,
      help: 'Requests refused or not retried: no capacity, full queue, event-loop lag, retry budget spent',
      labelNames: ['service', 'reason'],
      registers: [registry],
    });
    const labelOf = (metric: string, kind: 'service' | 'worker', value: string) => this.opts.bound.value(metric, kind, value);
    new Gauge({
      name: `${prefix}_workers`,
      help: 'Live workers in the registry',
      registers: [registry],
      collect() {
        this.set(workers.size);
      },
    });
    new Gauge({
      name: `${prefix}_workers_ejected`,
      help: 'Live workers held out by outlier detection right now, by service',
      labelNames: ['service'],
      registers: [registry],
      collect() {
        this.reset();
        for (const service of workers.services()) this.set({ service: labelOf('workers_ejected', 'service', service) }, gauges.ejectedWorkers(service));
      },
    });
    new Gauge({
      name: `${prefix}_pending`,
      help: 'Requests waiting for a free worker',
      registers: [registry],
      collect() {
        this.set(gauges.pending);
      },
    });
    new Gauge({
      name: `${prefix}_pending_peak`,
      help: 'Most requests that ever waited for a free worker at once',
      registers: [registry],
      collect() {
        this.set(gauges.pendingPeak);
      },
    });
    new Gauge({
      name: `${prefix}_worker_in_flight_peak`,
      help: 'Most requests this process ever had in flight at once on a live worker',
      labelNames: ['service', 'worker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const service of workers.services()) {
          for (const w of workers.workersOf(service)) {
            this.set({ service: labelOf('in_flight_peak', 'service', service), worker: labelOf('in_flight_peak', 'worker', w.id) }, gauges.inFlightPeak(w.id));
          }
        }
      },
    });
  }

  attempt(worker: WorkerEntry, outcome: 'ok' | 'error', code: string | undefined): void {
    const labels = this.labelsOf(worker);
    const key = code === undefined ? outcome : `${outcome}/${code}`;
    let set = labels.attempts.get(key);
    if (!set) labels.attempts.set(key, (set = { service: labels.service, worker: labels.worker, outcome, code: code ?? '' }));
    this.attempts.inc(set);
  }

  ejection(worker: WorkerEntry, reason: string): void {
    const labels = this.labelsOf(worker);
    this.ejections.inc({ service: labels.service, worker: labels.worker, reason });
  }

  retry(service: string, code: string): void {
    this.retries.inc({ service: this.service(service), code });
  }

  hedge(service: string): void {
    this.hedges.inc({ service: this.service(service) });
  }

  reject(service: string, reason: RejectReason): void {
    this.rejected.inc({ service: this.service(service), reason });
  }

  /** A service's label value: `_unknown` for a service no worker announced, else bounded. */
  private service(service: string): string {
    let label = this.serviceLabels.get(service);
    if (label === undefined) {
      if (!this.workers.isKnownService(service)) return UNKNOWN_LABEL_VALUE;
      label = this.opts.bound.value('routing', 'service', service);
      this.serviceLabels.set(service, label);
    }
    return label;
  }

  private labelsOf(worker: WorkerEntry): WorkerLabels {
    let labels = this.workerLabels.get(worker);
    if (!labels) {
      labels = { service: this.service(worker.service), worker: this.opts.bound.value('routing', 'worker', worker.id), attempts: new Map() };
      this.workerLabels.set(worker, labels);
    }
    return labels;
  }
}
