import cluster, { type Worker } from 'node:cluster';
import { ProcessMetrics, readyOf, type HttpServerInfo, type ServiceContext, type StartedService } from '@synod/service-kit';
import { AdminRelay } from './admin-relay.js';
import type { GatewayConfig } from './config.js';
import { adminRoutes } from './gateway-process.js';

/** Environment by which a supervised process learns its instance and its number. */
export const INSTANCE_VAR = 'SYNOD_GATEWAY_INSTANCE';
export const PROCESS_VAR = 'SYNOD_GATEWAY_PROCESS';
/** A process that exits on its own is started again after this long. */
const RESTART_DELAY_MS = 1000;

interface Slot {
  worker: Worker;
  ready: Record<string, unknown> | undefined;
}

/**
 * GATEWAY_PROCESSES > 1: this process supervises N gateway processes (node:cluster) that share the
 * API port, each with its own NATS connection, registry view and balancer state (shared-nothing, as
 * Envoy's workers). node:cluster hands each new connection to the next process in turn. The
 * supervisor serves the ops port: `/healthz`, `/readyz` (ready while every process is), one
 * `/metrics` for all of them, and the admin routes, which publish a change on
 * `<ns>.gateway.admin` and answer once all N processes have applied it. A process that exits on
 * its own is started again; SIGTERM stops all of them, each draining its requests.
 */
export async function superviseProcesses(ctx: ServiceContext<GatewayConfig>): Promise<StartedService> {
  const { config, instanceId, log, bus, metrics } = ctx;
  const n = config.GATEWAY_PROCESSES;
  const slots = new Map<number, Slot>();
  const processMetrics = new ProcessMetrics(metrics);
  let stopping = false;

  const start = (index: number): Promise<Record<string, unknown>> => {
    const worker = cluster.fork({ [INSTANCE_VAR]: instanceId, [PROCESS_VAR]: String(index) });
    const slot: Slot = { worker, ready: undefined };
    slots.set(index, slot);
    processMetrics.attach(String(index), worker);
    return new Promise((resolve, reject) => {
      let served = false;
      worker.on('message', (message: unknown) => {
        const ready = readyOf(message);
        if (ready === undefined) return;
        served = true;
        slot.ready = ready;
        resolve(ready);
      });
      worker.on('exit', (code, signal) => {
        slot.ready = undefined;
        if (stopping) return;
        if (!served) {
          reject(new Error(`gateway process ${index} exited (${signal ?? code}) before it was ready`));
          return;
        }
        log.error({ process: index, code, signal, restartInMs: RESTART_DELAY_MS }, 'gateway process exited: starting another');
        setTimeout(() => {
          if (!stopping) start(index).catch((err: unknown) => log.error({ err, process: index }, 'gateway process did not start'));
        }, RESTART_DELAY_MS).unref();
      });
    });
  };

  const first = await Promise.all(Array.from({ length: n }, (_, i) => start(i + 1)));
  log.info({ processes: n, pids: [...slots.values()].map((s) => s.worker.process.pid) }, 'gateway processes ready');
  const relay = new AdminRelay({ nc: bus.nc, namespace: config.SYNOD_NAMESPACE, gateway: instanceId, processes: n, timeoutMs: config.ADMIN_APPLY_TIMEOUT_MS, log });
  return {
    ready: { port: first[0]!.port, processes: n },
    // The API's routes, as the processes serve them (all the same); the ops server's are added to them.
    http: apiServers(first[0]!),
    checks: [{ name: 'processes', ok: () => [...slots.values()].every((s) => s.ready !== undefined && s.worker.isConnected()) }],
    opsRoutes: adminRoutes(ctx, relay),
    metricsText: () => processMetrics.text(),
    async stop() {
      stopping = true;
      await Promise.all(
        [...slots.values()].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.worker.process.exitCode !== null || s.worker.process.signalCode !== null) return resolve();
              s.worker.once('exit', () => resolve());
              s.worker.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** The HTTP servers a gateway process listed in its ready report (`http`), checked as far as they are used. */
function apiServers(ready: Record<string, unknown>): HttpServerInfo[] {
  const http = ready.http;
  if (!Array.isArray(http)) return [];
  return http.filter(
    (h): h is HttpServerInfo =>
      typeof h === 'object' && h !== null && typeof (h as HttpServerInfo).server === 'string' && typeof (h as HttpServerInfo).port === 'number' && Array.isArray((h as HttpServerInfo).routes),
  );
}
