import { Counter, Gauge, Histogram, type Registry } from '@synod/service-kit';

/** A worker's metrics: jobs by endpoint and outcome, their duration, and the jobs in flight (read at scrape time). */
export function workerMetrics(registry: Registry, inFlight: () => number) {
  new Gauge({
    name: 'synod_worker_in_flight',
    help: 'Jobs being handled',
    registers: [registry],
    collect() {
      this.set(inFlight());
    },
  });
  return {
    jobs: new Counter({
      name: 'synod_worker_jobs_total',
      help: 'Jobs answered, by endpoint and outcome',
      labelNames: ['endpoint', 'outcome', 'code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'synod_worker_job_duration_seconds',
      help: 'Time a handler took, from admission to its result',
      labelNames: ['endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof workerMetrics>;
