import type { ServiceView, WorkerView } from '@synod/protocol';
import type { Router, WorkerRegistry } from '@synod/routing';

/** What one gateway process knows, as `GET /v1/workers`, `GET /v1/services` and the stats subject show it. */
export interface ProcessView {
  registry: WorkerRegistry;
  router: Pick<Router, 'describe' | 'strategyOf' | 'pending' | 'pendingPeak'>;
}

/** The registry's rows with what the router knows of each worker; only `service`'s when given. */
export function workerRows({ registry, router }: ProcessView, now: number, service?: string): WorkerView[] {
  const rows = registry.view(now, (w) => router.describe(w, now));
  return service === undefined ? rows : rows.filter((w) => w.service === service);
}

/** One row per known service: its strategy, live and ejected workers, endpoints; only `service`'s when given. */
export function serviceRows({ registry, router }: ProcessView, now: number, service?: string): ServiceView[] {
  const names = service === undefined ? registry.services() : registry.services().filter((s) => s === service);
  return names.map((name) => {
    const workers = registry.workersOf(name);
    const endpoints = new Set<string>();
    for (const w of workers) for (const e of w.endpoints) endpoints.add(e);
    return {
      service: name,
      strategy: router.strategyOf(name),
      workers: workers.length,
      ejected: workers.filter((w) => router.describe(w, now).ejected === true).length,
      endpoints: [...endpoints],
    };
  });
}
