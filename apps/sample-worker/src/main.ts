import { randomBytes } from 'node:crypto';
import { DEFAULT_MAX_REQUEST_BYTES, ServiceName, WorkerId } from '@synod/protocol';
import { env, runService } from '@synod/service-kit';
import { SampleWorker } from './worker.js';

await runService({
  service: 'sample-worker',
  env: {
    WORKER_SERVICE: env.of(ServiceName.default('sample')),
    WORKER_ID: env.of(WorkerId.optional()),
    WORKER_WEIGHT: env.int({ min: 0, max: 1000, default: 1 }),
    HEARTBEAT_INTERVAL_MS: env.int({ min: 50, max: 60_000, default: 1000 }),
    MAX_REQUEST_BYTES: env.int({ min: 1024, max: 900 * 1024, default: DEFAULT_MAX_REQUEST_BYTES }),
  },
  instanceId: (config) => config.WORKER_ID ?? `w-${randomBytes(4).toString('hex')}`,
  async start({ config, instanceId, log, bus, metrics }) {
    const worker = new SampleWorker({
      nc: bus.nc,
      log,
      metrics,
      namespace: config.SYNOD_NAMESPACE,
      service: config.WORKER_SERVICE,
      id: instanceId,
      weight: config.WORKER_WEIGHT,
      heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
      maxRequestBytes: config.MAX_REQUEST_BYTES,
    });
    worker.start();
    return {
      ready: { serves: config.WORKER_SERVICE, weight: config.WORKER_WEIGHT, endpoints: SampleWorker.ENDPOINTS },
      stop: () => worker.stop(config.SHUTDOWN_TIMEOUT_MS),
    };
  },
});
