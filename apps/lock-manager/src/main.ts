import { StoreClient } from '@synod/store-client';
import { env, runService } from '@synod/service-kit';
import { LockService } from './lock-service.js';

const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;

await runService({
  service: 'lock-manager',
  env: {
    LOCK_KEY_PREFIX: env.string({ default: 'locks', pattern: PREFIX, expected: 'expected a key prefix: 1-64 letters, digits, _ . or -' }),
    DATA_KEY_PREFIX: env.string({ default: 'objects', pattern: PREFIX, expected: 'expected a key prefix: 1-64 letters, digits, _ . or -' }),
    STORE_TIMEOUT_MS: env.int({ min: 100, max: 60_000, default: 5000 }),
    STORE_ATTEMPT_TIMEOUT_MS: env.int({ min: 50, max: 30_000, default: 1000 }),
    MAX_REQUEST_BYTES: env.int({ min: 1024, max: 900 * 1024, default: 384 * 1024 }),
    // Store writes in flight at once; more waiting go together as one batch (0: no batching).
    STORE_WRITES_IN_FLIGHT: env.int({ min: 0, max: 64, default: 1 }),
  },
  validate: (c) =>
    c.LOCK_KEY_PREFIX === c.DATA_KEY_PREFIX
      ? [{ variable: 'DATA_KEY_PREFIX', expected: 'expected a prefix different from LOCK_KEY_PREFIX', received: c.DATA_KEY_PREFIX }]
      : [],
  async start({ config, instanceId, log, bus, metrics }) {
    const store = new StoreClient({
      nc: bus.nc,
      namespace: config.SYNOD_NAMESPACE,
      clientId: `lock-manager-${instanceId}`,
      timeoutMs: config.STORE_TIMEOUT_MS,
      attemptTimeoutMs: config.STORE_ATTEMPT_TIMEOUT_MS,
      // Every store request is built here from a request the endpoint validated already; the store
      // validates it again on arrival.
      validateRequests: false,
    });
    const service = new LockService({
      nc: bus.nc,
      store,
      log,
      metrics,
      namespace: config.SYNOD_NAMESPACE,
      lockPrefix: config.LOCK_KEY_PREFIX ?? 'locks',
      dataPrefix: config.DATA_KEY_PREFIX ?? 'objects',
      maxRequestBytes: config.MAX_REQUEST_BYTES,
      writesInFlight: config.STORE_WRITES_IN_FLIGHT,
      storeTimeoutMs: config.STORE_TIMEOUT_MS,
    });
    service.start();
    return {
      ready: { serves: 'lock', lockPrefix: config.LOCK_KEY_PREFIX, dataPrefix: config.DATA_KEY_PREFIX },
      stop: async () => {
        await service.stop(config.SHUTDOWN_TIMEOUT_MS);
      },
    };
  },
});
