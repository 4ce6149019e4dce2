import { STRATEGY_NAMES } from '@synod/balancing';
import { DEFAULT_MAX_REQUEST_BYTES } from '@synod/protocol';
import { Counter, Gauge, Histogram, env, runService } from '@synod/service-kit';
import { buildApi } from './http-api.js';
import { WorkerRegistry } from './registry.js';
import { RegistryListener } from './registry-listener.js';
import { Router } from './router.js';

await runService({
  service: 'balancer-gateway',
  env: {
    /** The API port (separate from HTTP_PORT, which serves health and metrics). */
    PORT: env.port(8080),
    HOST: env.string({ default: '0.0.0.0', expected: 'expected a host or address to listen on' }),
    LB_STRATEGY: env.oneOf(STRATEGY_NAMES as ['random', 'round-robin', 'weighted'], 'weighted'),
    /** A worker unheard of for longer than this leaves the registry. */
    WORKER_EXPIRY_MS: env.int({ min: 100, max: 600_000, default: 3000 }),
    /** How often expired workers are swept out. */
    REGISTRY_SWEEP_MS: env.int({ min: 10, max: 60_000, default: 500 }),
    REQUEST_TIMEOUT_MS: env.int({ min: 1, max: 600_000, default: 10_000 }),
    MAX_BODY_BYTES: env.int({ min: 64, max: 900 * 1024, default: DEFAULT_MAX_REQUEST_BYTES }),
  },
  async start({ config, instanceId, log, bus, metrics }) {
    const registry = new WorkerRegistry(config.WORKER_EXPIRY_MS);
    const requests = new Counter({
      name: 'synod_gateway_requests_total',
      help: 'HTTP requests routed, by service, endpoint and status',
      labelNames: ['service', 'endpoint', 'status'],
      registers: [metrics],
    });
    const duration = new Histogram({
      name: 'synod_gateway_request_duration_seconds',
      help: 'Time from receiving an HTTP request to answering it',
      labelNames: ['service', 'endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [metrics],
    });
    const attempts = new Counter({
      name: 'synod_gateway_worker_attempts_total',
      help: 'Requests sent to workers, by worker and outcome',
      labelNames: ['service', 'worker', 'outcome', 'code'],
      registers: [metrics],
    });
    const invalid = new Counter({
      name: 'synod_gateway_registry_invalid_total',
      help: 'Registry messages ignored because they were malformed',
      registers: [metrics],
    });
    new Gauge({
      name: 'synod_gateway_workers',
      help: 'Live workers in the registry',
      registers: [metrics],
      collect() {
        this.set(registry.size);
      },
    });

    const listener = new RegistryListener({
      nc: bus.nc,
      registry,
      namespace: config.SYNOD_NAMESPACE,
      gatewayId: instanceId,
      sweepIntervalMs: config.REGISTRY_SWEEP_MS,
      log,
      onInvalid: () => invalid.inc(),
    });
    const router = new Router({
      nc: bus.nc,
      registry,
      namespace: config.SYNOD_NAMESPACE,
      strategy: config.LB_STRATEGY,
      random: Math.random,
      log,
      onAttempt: (w, outcome, code) => attempts.inc({ service: w.service, worker: w.id, outcome, code: code ?? '' }),
    });
    const api = buildApi({
      router,
      registry,
      log,
      maxBodyBytes: config.MAX_BODY_BYTES,
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      onResponse: (service, endpoint, status, seconds) => {
        requests.inc({ service, endpoint, status });
        duration.observe({ service, endpoint }, seconds);
      },
    });
    await listener.start();
    await api.listen({ port: config.PORT, host: config.HOST });
    const address = api.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.PORT;
    let serving = true;
    return {
      ready: { port, strategy: config.LB_STRATEGY },
      checks: [{ name: 'api', ok: () => serving }],
      async stop() {
        serving = false;
        // fastify's close stops accepting connections and waits for in-flight requests.
        await api.close();
        listener.stop();
      },
    };
  },
});
