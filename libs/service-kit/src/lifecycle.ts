import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { commonEnv, exitOnBadConfig, parseConfig, productionIssues, type ConfigIssue } from './config.js';
import { createRootLogger, type Logger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { connectNats, type Bus } from './nats.js';
import { natsAuthIssues, natsAuthKind, natsAuthOf } from './nats-auth.js';
import type { HttpServerInfo } from './http-routes.js';
import { startOpsServer, type OpsRoutes, type ReadinessCheck } from './ops-server.js';
import type { Registry } from 'prom-client';

type CommonShape = typeof commonEnv;
export type CommonConfig = z.output<z.ZodObject<CommonShape>>;

export interface ServiceContext<C> {
  config: C & CommonConfig;
  /** This process's id (the instance label of logs and metrics). */
  instanceId: string;
  log: Logger;
  bus: Bus;
  metrics: Registry;
}

export interface StartedService {
  /** Fields of the ready line beyond `id` and `httpPort` (ports the app opened, for example). */
  ready?: Record<string, unknown>;
  /** The app's own HTTP servers (`httpServerInfo`), listed with the ops server in the ready line's `http`. */
  http?: HttpServerInfo[];
  /** Extra readiness checks for /readyz; "nats connected" is always there. */
  checks?: ReadinessCheck[];
  /**
   * Routes of the app on the ops port (HTTP_PORT), beside /healthz, /readyz and /metrics: admin
   * surfaces live there, never on a public port. Errors answer the catalog's envelope.
   */
  opsRoutes?: OpsRoutes;
  /**
   * Called once on SIGTERM/SIGINT: stop taking work, finish in-flight work. The NATS connection is
   * drained after it returns, then the process exits 0.
   */
  stop(): Promise<void>;
}

export interface ServiceDefinition<S extends z.ZodRawShape> {
  service: string;
  /** Env variables of this app beyond the common ones. */
  env: S;
  /** Picks the instance id from config (workers use WORKER_ID); default: random. */
  instanceId?: (config: z.output<z.ZodObject<S>> & CommonConfig) => string | undefined;
  /** Checks across variables (one variable's bound depending on another's); issues exit with 2. */
  validate?: (config: z.output<z.ZodObject<S>> & CommonConfig) => ConfigIssue[];
  start(ctx: ServiceContext<z.output<z.ZodObject<S>>>): Promise<StartedService>;
}

/**
 * Runs an app with the contract every Synod app follows: config from env (status 2 when bad), one
 * root logger, NATS connected, the ops HTTP server on HTTP_PORT, one `ready` line, and on
 * SIGTERM/SIGINT a graceful stop, a NATS drain and exit 0 (exit 1 if the drain outlives
 * SHUTDOWN_TIMEOUT_MS).
 */
export async function runService<S extends z.ZodRawShape>(def: ServiceDefinition<S>): Promise<void> {
  const common = parseConfig(commonEnv);
  const own = parseConfig(def.env);
  if (!common.ok || !own.ok) {
    exitOnBadConfig(def.service, [...(common.ok ? [] : common.issues), ...(own.ok ? [] : own.issues)]);
  }
  const config: z.output<z.ZodObject<S>> & CommonConfig = { ...common.config, ...own.config };
  const crossIssues = [...(def.validate?.(config) ?? []), ...natsAuthIssues(config), ...productionIssues(config)];
  if (crossIssues.length > 0) exitOnBadConfig(def.service, crossIssues);
  const instanceId = def.instanceId?.(config) ?? `${def.service}-${randomBytes(4).toString('hex')}`;
  const log = createRootLogger({ service: def.service, instance: instanceId, level: config.LOG_LEVEL });
  const auth = natsAuthOf(config);
  if (config.SYNOD_ENV !== 'production') {
    log.warn(
      { env: config.SYNOD_ENV, natsAuthenticated: natsAuthKind(auth) !== 'none', natsAuth: natsAuthKind(auth), natsTls: auth.tlsCa !== undefined || auth.tlsCert !== undefined },
      'development mode: development default secrets and certificates, NATS passwords and unauthenticated NATS are accepted (SYNOD_ENV=production refuses them)',
    );
  }

  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });

  let stopping: Promise<void> | undefined;
  let started: StartedService | undefined;
  let bus: Bus | undefined;
  let ops: Awaited<ReturnType<typeof startOpsServer>> | undefined;

  const shutdown = (signal: string): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    stopping = (async () => {
      try {
        await started?.stop();
        await bus?.nc.drain();
        await ops?.close();
        clearTimeout(timer);
        log.info('stopped');
        process.exit(0);
      } catch (err) {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    })();
    return stopping;
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    const metrics = createMetricsRegistry({ service: def.service, instance: instanceId });
    bus = await connectNats({ servers: config.NATS_URL, name: `${def.service}/${instanceId}`, log, auth });
    started = await def.start({ config, instanceId, log, bus, metrics });
    const connectedBus = bus;
    if (config.HTTP_PORT !== undefined) {
      ops = await startOpsServer({
        port: config.HTTP_PORT,
        checks: [{ name: 'nats', ok: () => connectedBus.isConnected() }, ...(started.checks ?? [])],
        registry: metrics,
        log,
        ...(started.opsRoutes ? { routes: started.opsRoutes } : {}),
      });
    }
    if (stopping) return;
    // Written whatever LOG_LEVEL says: orchestration and test fixtures wait for this line.
    // `http`: every route the process serves, by server (the fuzzer derives its targets from it).
    const http = [...(started.http ?? []), ...(ops ? [ops.info] : [])];
    log
      .child({}, { level: 'info' })
      .info({ id: instanceId, namespace: config.SYNOD_NAMESPACE, env: config.SYNOD_ENV, httpPort: ops?.port ?? null, ...started.ready, http }, 'ready');
  } catch (err) {
    log.fatal({ err }, 'failed to start');
    process.exit(1);
  }
}
