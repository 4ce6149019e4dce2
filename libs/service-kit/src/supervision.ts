import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/**
 * An app that runs several processes of itself (the gateway's GATEWAY_PROCESSES) has one
 * supervising process and N supervised ones, talking over the IPC channel node:cluster sets up.
 * The supervised processes report their `ready` fields and answer the supervisor's requests for
 * their metrics; the supervisor serves one `/metrics` for all of them.
 */

const READY = 'synod:ready';
const METRICS_REQUEST = 'synod:metrics-request';
const METRICS_REPLY = 'synod:metrics';

/** Label of the per-process series in the aggregated metrics. */
export const PROCESS_LABEL = 'process';

type Values = MetricObjectWithValues<MetricValue<string>>;

/** A supervised process as the supervisor sees it (a node:cluster Worker fits). */
export interface SupervisedChild {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  isConnected(): boolean;
}

/** In a supervised process: tells the supervisor it serves, with the fields of its ready line. */
export function reportReady(ready: Record<string, unknown>): void {
  process.send?.({ type: READY, ready });
}

/** The ready fields in a message from a supervised process, or undefined for any other message. */
export function readyOf(message: unknown): Record<string, unknown> | undefined {
  const m = message as { type?: unknown; ready?: unknown } | null;
  return m !== null && typeof m === 'object' && m.type === READY && typeof m.ready === 'object' && m.ready !== null ? (m.ready as Record<string, unknown>) : undefined;
}

/** In a supervised process: answers the supervisor's requests for this process's metrics. */
export function answerMetricsRequests(registry: Registry): void {
  process.on('message', (message: unknown) => {
    const m = message as { type?: unknown; id?: unknown } | null;
    if (m === null || typeof m !== 'object' || m.type !== METRICS_REQUEST || typeof m.id !== 'number') return;
    const id = m.id;
    void registry.getMetricsAsJSON().then((metrics) => process.send?.({ type: METRICS_REPLY, id, metrics }));
  });
}

/**
 * In the supervisor: one Prometheus text for itself and every supervised process. Counters and
 * histograms of all processes add up into one series per label set (the processes share the
 * instance's labels); every gauge is a per-process value and gets a `process` label (`primary` for
 * the supervisor's own). A process that does not answer within `timeoutMs` is left out.
 */
export class ProcessMetrics {
  private readonly children = new Map<string, SupervisedChild>();
  private readonly waiting = new Map<number, (metrics: Values[]) => void>();
  private seq = 0;

  constructor(
    private readonly own: Registry,
    private readonly timeoutMs = 2000,
  ) {}

  /** Adds (or replaces) the supervised process labelled `label`. */
  attach(label: string, child: SupervisedChild): void {
    this.children.set(label, child);
    child.on('message', (message: unknown) => {
      const m = message as { type?: unknown; id?: unknown; metrics?: unknown } | null;
      if (m === null || typeof m !== 'object' || m.type !== METRICS_REPLY || typeof m.id !== 'number' || !Array.isArray(m.metrics)) return;
      this.waiting.get(m.id)?.(m.metrics as Values[]);
    });
  }

  async text(): Promise<string> {
    const own = (await this.own.getMetricsAsJSON()) as Values[];
    const all = await Promise.all([...this.children].map(([label, child]) => this.ask(child).then((m) => (m === undefined ? [] : byProcess(m, label)))));
    return AggregatorRegistry.aggregate([byProcess(own, 'primary'), ...all]).metrics();
  }

  get contentType(): string {
    return this.own.contentType;
  }

  private ask(child: SupervisedChild): Promise<Values[] | undefined> {
    if (!child.isConnected()) return Promise.resolve(undefined);
    const id = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      this.waiting.set(id, (metrics) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(metrics);
      });
      try {
        child.send({ type: METRICS_REQUEST, id });
      } catch {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(undefined);
      }
    });
  }
}

/** Gauges labelled with their process (and summed only with themselves); everything else as it is. */
function byProcess(metrics: Values[], label: string): Values[] {
  return metrics.map((m) =>
    // prom-client's typings call `type` an enum; at run time it is the string Prometheus prints.
    (m.type as unknown as string) === 'gauge'
      ? { ...m, aggregator: 'sum', values: m.values.map((v) => ({ ...v, labels: { ...v.labels, [PROCESS_LABEL]: label } })) }
      : m,
  ) as Values[];
}
