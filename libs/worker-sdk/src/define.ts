import { randomBytes } from 'node:crypto';
import { EndpointName, ServiceName } from '@synod/protocol';
import {
  commonEnv,
  createMetricsRegistry,
  parseConfig,
  runService,
  type ConfigResult,
  type Logger,
  type NatsConnection,
  type Registry,
} from '@synod/service-kit';
import type { z } from 'zod';
import { workerEnv, type WorkerConfig } from './env.js';
import { WorkerRuntime } from './worker.js';

/** The configuration a worker's code sees: common and worker variables, plus its own `env`. */
export type ConfigOf<Env extends z.ZodRawShape> = WorkerConfig & z.output<z.ZodObject<Env>>;

/** What `setup` receives, once, before the worker subscribes anything. */
export interface SetupContext<C> {
  config: C;
  workerId: string;
  service: string;
  log: Logger;
  nc: NatsConnection;
}

/** What a handler learns about its request besides the validated input. */
export interface HandlerContext<C, S> {
  requestId: string;
  /** The endpoint being served. */
  endpoint: string;
  workerId: string;
  service: string;
  /** Absolute local deadline, ms since the epoch by this process's clock. */
  deadline: number;
  /**
   * Aborted when the request's deadline (the `synod-timeout-ms` header) passes. A handler that
   * fails because of it is answered DEADLINE_EXCEEDED.
   */
  signal: AbortSignal;
  log: Logger;
  config: C;
  /** Whatever `setup` returned (undefined without a `setup`). */
  state: S;
}

type OutputOf<O, K> = K extends keyof O ? (O[K] extends z.ZodType ? z.input<O[K]> : never) : never;

/**
 * The endpoints of a worker. Each names its input and output schemas; the handler's input is the
 * parsed input and what it returns must satisfy the output schema (checked at run time too).
 * Written as two mapped types so TypeScript infers every endpoint's schemas from the literal.
 */
export type Endpoints<I extends Record<string, z.ZodType>, O extends Record<string, z.ZodType>, C, S> = {
  [K in keyof I]: {
    input: I[K];
    /**
     * True when running the job twice does no harm: a gateway may then retry it on another
     * worker after a timeout. Default false.
     */
    idempotent?: boolean;
    handler: (input: z.output<I[K]>, ctx: HandlerContext<C, S>) => Promise<OutputOf<O, K>> | OutputOf<O, K>;
  };
} & { [K in keyof O]: { output: O[K] } };

export interface WorkerDefinition<
  I extends Record<string, z.ZodType>,
  O extends Record<string, z.ZodType>,
  Env extends z.ZodRawShape,
  S,
> {
  /** The service served (`WORKER_SERVICE` overrides it per process). */
  service: string;
  /** Announced to gateways and shown by `GET /v1/workers`. */
  version?: string;
  /** Process name in logs and metrics; default `<service>-worker`. */
  app?: string;
  /** Env variables of this worker beyond the common and worker ones (service-kit `env` helpers). */
  env?: Env;
  /** Runs once at start, before any subscription; its result is every handler's `ctx.state`. */
  setup?: (ctx: SetupContext<ConfigOf<Env>>) => S | Promise<S>;
  /** Runs before every admitted job's handler (fault injection, auth, ...); throwing answers the job with the error. */
  before?: (ctx: HandlerContext<ConfigOf<Env>, S>) => void | Promise<void>;
  /** Runs once after the drain finished every in-flight job (close pools, flush files). */
  teardown?: (state: S) => void | Promise<void>;
  endpoints: Endpoints<I, O, ConfigOf<Env>, S>;
}

/** One endpoint with its types erased, as the runtime handles it. */
export interface AnyEndpoint {
  input: z.ZodType;
  output: z.ZodType;
  idempotent?: boolean;
  handler: (input: unknown, ctx: HandlerContext<unknown, unknown>) => unknown;
}

/** A definition with its types erased, as the runtime handles it. */
export interface AnyWorkerDefinition {
  service: string;
  version?: string;
  app?: string;
  env?: z.ZodRawShape;
  setup?: (ctx: SetupContext<never>) => unknown;
  before?: (ctx: HandlerContext<never, never>) => void | Promise<void>;
  teardown?: (state: never) => void | Promise<void>;
  endpoints: Record<string, AnyEndpoint>;
}

export interface StartOptions<C> {
  nc: NatsConnection;
  log: Logger;
  config: C;
  /** This instance's id; default `config.WORKER_ID`, else a random one. */
  workerId?: string;
  /** Where the worker's metrics go; default a registry of its own. */
  metrics?: Registry;
}

/** A started worker: serving, announced and heartbeating until `stop`. */
export interface RunningWorker {
  readonly id: string;
  readonly service: string;
  /** Fields of the `ready` log line. */
  readonly ready: Record<string, unknown>;
  /** Changes the announced weight; gateways see it with the next heartbeat, which is sent now. */
  setWeight(weight: number): void;
  /**
   * Graceful drain: deregister, stop taking jobs, finish in-flight ones (up to `timeoutMs`), then
   * `teardown`. Resolves with whether every job finished in time.
   */
  stop(timeoutMs: number): Promise<{ inFlightAtStop: number; finished: boolean }>;
}

export interface WorkerApp<Env extends z.ZodRawShape> {
  readonly definition: AnyWorkerDefinition;
  /** The env shape `run()` parses: common, worker and the definition's own variables. */
  readonly envShape: ReturnType<typeof workerEnv> & Env;
  /**
   * Runs this worker as the process: env parsed (bad value: exit 2 naming the variable), NATS
   * connected, ops HTTP on `HTTP_PORT`, the `ready` line, and on SIGTERM/SIGINT a graceful drain
   * and exit 0.
   */
  run(): Promise<void>;
  /** Starts the worker on a connection the caller owns (embedding, tests). */
  start(opts: StartOptions<ConfigOf<Env>>): Promise<RunningWorker>;
  /** Parses an environment for this worker (common variables included); never exits. */
  parseEnv(source: Record<string, string | undefined>): ConfigResult<ConfigOf<Env>>;
}

/**
 * Defines a worker: its service, its endpoints with zod schemas and handlers, and optionally its
 * own env, a `setup`, a `before` hook and a `teardown`. `.run()` makes it the process.
 *
 * ```ts
 * await defineWorker({
 *   service: 'greeter',
 *   endpoints: {
 *     hello: { input: z.object({ name: z.string() }), output: z.object({ text: z.string() }), idempotent: true,
 *              handler: ({ name }) => ({ text: `hello ${name}` }) },
 *   },
 * }).run();
 * ```
 */
export function defineWorker<
  I extends Record<string, z.ZodType>,
  O extends Record<string, z.ZodType>,
  Env extends z.ZodRawShape = Record<never, never>,
  S = undefined,
>(def: WorkerDefinition<I, O, Env, S>): WorkerApp<Env> {
  const definition = def as unknown as AnyWorkerDefinition;
  checkDefinition(definition);
  const envShape = { ...workerEnv(def.service), ...(def.env ?? ({} as Env)) };
  const app = def.app ?? `${def.service}-worker`;

  const start = async (opts: StartOptions<ConfigOf<Env>>): Promise<RunningWorker> => {
    const id = opts.workerId ?? opts.config.WORKER_ID ?? `w-${randomBytes(4).toString('hex')}`;
    const runtime = new WorkerRuntime({
      definition,
      nc: opts.nc,
      log: opts.log,
      metrics: opts.metrics ?? createMetricsRegistry({ app }),
      config: opts.config,
      id,
    });
    await runtime.start();
    return runtime;
  };

  return {
    definition,
    envShape,
    parseEnv(source) {
      const common = parseConfig(commonEnv, source);
      const own = parseConfig(envShape, source);
      if (common.ok && own.ok) return { ok: true, config: { ...common.config, ...own.config } as ConfigOf<Env> };
      return { ok: false, issues: [...(common.ok ? [] : common.issues), ...(own.ok ? [] : own.issues)] };
    },
    start,
    async run() {
      await runService({
        service: app,
        env: envShape,
        instanceId: (config) => (config as unknown as WorkerConfig).WORKER_ID ?? `w-${randomBytes(4).toString('hex')}`,
        async start({ config, instanceId, log, bus, metrics }) {
          const worker = await start({ nc: bus.nc, log, metrics, config: config as unknown as ConfigOf<Env>, workerId: instanceId });
          return { ready: worker.ready, stop: async () => void (await worker.stop(config.SHUTDOWN_TIMEOUT_MS)) };
        },
      });
    },
  };
}

function checkDefinition(def: AnyWorkerDefinition): void {
  if (!ServiceName.safeParse(def.service).success) throw new TypeError(`defineWorker: invalid service name ${JSON.stringify(def.service)}`);
  const names = Object.keys(def.endpoints);
  if (names.length === 0) throw new TypeError('defineWorker: a worker needs at least one endpoint');
  for (const name of names) {
    if (!EndpointName.safeParse(name).success) throw new TypeError(`defineWorker: invalid endpoint name ${JSON.stringify(name)}`);
  }
  if (def.version !== undefined && (def.version.length === 0 || def.version.length > 64)) {
    throw new TypeError('defineWorker: version must be 1 to 64 characters');
  }
}
