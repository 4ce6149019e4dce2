import type { WorkerView } from '@synod/protocol';
import { table, type Table } from '../format.js';

/** The workers of one service, as `synodctl workers --json` prints them. */
export interface ServiceWorkers {
  service: string;
  /** The service's balancing strategy on the gateway, when it says. */
  strategy?: string;
  workers: WorkerView[];
}

/** Groups the gateway's worker list by service: services by name, workers by id. */
export function groupByService(workers: readonly WorkerView[]): ServiceWorkers[] {
  const byService = new Map<string, WorkerView[]>();
  for (const w of workers) {
    let list = byService.get(w.service);
    if (!list) byService.set(w.service, (list = []));
    list.push(w);
  }
  return [...byService.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([service, list]) => {
      const sorted = [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const strategy = sorted.find((w) => w.strategy !== undefined)?.strategy;
      return { service, ...(strategy === undefined ? {} : { strategy }), workers: sorted };
    });
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function weight(w: WorkerView): string {
  if (w.weightOverride !== undefined && w.reportedWeight !== undefined && w.reportedWeight !== w.weight) {
    return `${w.weight} (set; reports ${w.reportedWeight})`;
  }
  return String(w.weight);
}

function state(w: WorkerView, now: number): string {
  if (w.ejected) {
    const left = w.ejectedUntil === undefined ? undefined : Math.max(0, Date.parse(w.ejectedUntil) - now);
    const parts = [left === undefined ? undefined : `${(left / 1000).toFixed(1)}s left`, w.ejections === undefined ? undefined : `ejection ${w.ejections}`].filter(
      (p) => p !== undefined,
    );
    return parts.length > 0 ? `ejected (${parts.join(', ')})` : 'ejected';
  }
  if (w.slowStartFactor !== undefined && w.slowStartFactor < 1) return `slow start ${Math.round(w.slowStartFactor * 100)}%`;
  return 'ok';
}

const WORKER_COLUMNS = ['ID', 'VERSION', 'WEIGHT', 'IN_FLIGHT', 'SERVED', 'ERRORS', 'EWMA_MS', 'WORKER_MS', 'HEARTBEAT', 'STATE'];

function workerRow(w: WorkerView, now: number): string[] {
  return [
    w.id,
    w.version ?? '-',
    weight(w),
    w.maxConcurrency === undefined ? String(w.inFlight) : `${w.inFlight}/${w.maxConcurrency}`,
    String(w.served),
    String(w.errors),
    ms(w.ewmaMs),
    ms(w.reported.ewmaMs),
    `${(w.lastHeartbeatAgeMs / 1000).toFixed(1)}s ago`,
    state(w, now),
  ];
}

/** `workers -w table`: one table, a row per worker with its service and the service's strategy. */
export function workersTable(services: readonly ServiceWorkers[], now: number): Table {
  return [['SERVICE', 'STRATEGY', ...WORKER_COLUMNS], ...services.flatMap((s) => s.workers.map((w) => [s.service, s.strategy ?? '-', ...workerRow(w, now)]))];
}

/**
 * One block per service: a header with the strategy and the worker count, then a row per worker.
 * IN_FLIGHT is this gateway's (with the worker's limit after a slash), EWMA_MS the gateway's
 * latency estimate and WORKER_MS the service time the worker reports; `-` where a field is absent.
 */
export function formatWorkers(services: readonly ServiceWorkers[], now: number): string {
  if (services.length === 0) return '(no workers)';
  return services
    .map((s) => {
      const head = `${s.service}${s.strategy === undefined ? '' : ` (${s.strategy})`}: ${s.workers.length} worker${s.workers.length === 1 ? '' : 's'}`;
      const rows = [WORKER_COLUMNS, ...s.workers.map((w) => workerRow(w, now))];
      return `${head}\n${table(rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n')}`;
    })
    .join('\n\n');
}
