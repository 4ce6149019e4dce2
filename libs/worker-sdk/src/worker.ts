import { performance } from 'node:perf_hooks';
import { RegistryDiscover, SynodError, subjects, type ReplyEnvelope } from '@synod/protocol';
import {
  DropSummary,
  EndpointServer,
  type Logger,
  type Msg,
  type NatsConnection,
  type Registry,
  type RequestContext,
  type Subscription,
} from '@synod/service-kit';
import { z } from 'zod';
import type { AnyEndpoint, AnyWorkerDefinition, HandlerContext, RunningWorker } from './define.js';
import type { WorkerConfig } from './env.js';
import { LoadTracker } from './load.js';
import { workerMetrics, type WorkerMetrics } from './metrics.js';
import { announceMessage, deregisterMessage, type PingResult, type WorkerIdentity } from './messages.js';

export interface WorkerRuntimeOptions {
  definition: AnyWorkerDefinition;
  nc: NatsConnection;
  log: Logger;
  metrics: Registry;
  config: WorkerConfig;
  id: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A worker on the bus: its endpoints on `<ns>.svc.<service>.<id>.<endpoint>` (through service-kit's
 * EndpointServer: size limit, input validation, deadline, the envelope), the concurrency limit and
 * output validation around every handler, the ping subject, the announce at start, heartbeats with
 * load, answers to a gateway's discover, and the drain.
 */
export class WorkerRuntime implements RunningWorker {
  readonly id: string;
  readonly service: string;
  private readonly identity: WorkerIdentity;
  private readonly load: LoadTracker;
  private readonly endpoints: EndpointServer;
  private readonly log: Logger;
  private readonly drops: DropSummary;
  private readonly subs: Subscription[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private state: unknown;
  private draining = false;
  private readonly jobs: WorkerMetrics['jobs'];
  private readonly duration: WorkerMetrics['duration'];

  constructor(private readonly opts: WorkerRuntimeOptions) {
    const { definition: def, config } = opts;
    this.id = opts.id;
    this.service = config.WORKER_SERVICE;
    this.log = opts.log.child({ component: 'worker' });
    this.drops = new DropSummary(this.log, { msg: 'malformed discover messages ignored' });
    const names = Object.keys(def.endpoints);
    this.identity = {
      id: this.id,
      service: this.service,
      ...(def.version === undefined ? {} : { version: def.version }),
      weight: config.WORKER_WEIGHT,
      endpoints: names,
      idempotent: names.filter((n) => def.endpoints[n]?.idempotent === true),
      ...(config.WORKER_MAX_CONCURRENCY === undefined ? {} : { maxConcurrency: config.WORKER_MAX_CONCURRENCY }),
      heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
    };
    this.load = new LoadTracker({ maxConcurrency: config.WORKER_MAX_CONCURRENCY });
    const load = this.load;
    ({ jobs: this.jobs, duration: this.duration } = workerMetrics(opts.metrics, () => load.inFlight));
    this.endpoints = new EndpointServer({
      nc: opts.nc,
      log: opts.log,
      onOutcome: (endpoint, outcome, code) => {
        this.load.recordAnswer(outcome === 'ok');
        this.jobs.inc({ endpoint, outcome, code: code ?? '' });
      },
    });
  }

  get ready(): Record<string, unknown> {
    const { identity: who } = this;
    return {
      serves: who.service,
      weight: who.weight,
      endpoints: [...who.endpoints],
      idempotent: [...who.idempotent],
      ...(who.version === undefined ? {} : { version: who.version }),
      ...(who.maxConcurrency === undefined ? {} : { maxConcurrency: who.maxConcurrency }),
    };
  }

  async start(): Promise<void> {
    const { definition: def, nc, config } = this.opts;
    const ns = config.SYNOD_NAMESPACE;
    this.state = await def.setup?.({ config, workerId: this.id, service: this.service, log: this.opts.log, nc } as never);
    for (const [name, endpoint] of Object.entries(def.endpoints)) {
      this.endpoints.add(name, {
        subject: subjects.workerEndpoint(ns, this.service, this.id, name),
        input: endpoint.input,
        maxRequestBytes: config.MAX_REQUEST_BYTES,
        handler: (input: unknown, ctx: RequestContext) => this.runJob(name, endpoint, input, ctx),
      });
    }
    this.subs.push(
      nc.subscribe(subjects.workerPing(ns, this.service, this.id), { callback: (err, msg) => (err ? undefined : this.answerPing(msg)) }),
      nc.subscribe(subjects.registryDiscover(ns), { callback: (err, msg) => (err ? undefined : this.onDiscover(msg)) }),
    );
    // The server must hold every subscription before anyone learns of this worker: a gateway that
    // heard the announce (or a test that saw the ready line) and got no responders would drop it.
    await nc.flush();
    this.announce('announce');
    this.heartbeat = setInterval(() => this.announce('heartbeat'), config.HEARTBEAT_INTERVAL_MS);
  }

  setWeight(weight: number): void {
    if (!(Number.isInteger(weight) && weight >= 0 && weight <= 1000)) throw new RangeError(`weight must be an integer from 0 to 1000, got ${weight}`);
    this.identity.weight = weight;
    this.announce('heartbeat');
  }

  async stop(timeoutMs: number): Promise<{ inFlightAtStop: number; finished: boolean }> {
    this.draining = true;
    clearInterval(this.heartbeat);
    const { nc, config } = this.opts;
    nc.publish(subjects.registryDeregister(config.SYNOD_NAMESPACE), encoder.encode(JSON.stringify(deregisterMessage(this.identity))));
    // Gateways must have the deregister before the endpoints stop answering.
    await nc.flush();
    await Promise.all(this.subs.map((s) => s.drain().catch(() => undefined)));
    const inFlightAtStop = this.endpoints.inFlight;
    const finished = await this.endpoints.stop(timeoutMs);
    this.log.info({ inFlightAtStop, finished }, 'endpoints drained');
    await this.opts.definition.teardown?.(this.state as never);
    return { inFlightAtStop, finished };
  }

  /** Admission, the `before` hook, the handler, output validation and load accounting of one job. */
  private async runJob(name: string, endpoint: AnyEndpoint, input: unknown, req: RequestContext): Promise<unknown> {
    if (!this.load.tryAdmit()) {
      throw new SynodError('OVERLOADED', `worker ${this.id} is at its concurrency limit of ${String(this.load.maxConcurrency)}`, {
        details: { worker: this.id, maxConcurrency: this.load.maxConcurrency },
      });
    }
    const started = performance.now();
    const endTimer = this.duration.startTimer({ endpoint: name });
    try {
      const ctx: HandlerContext<unknown, unknown> = {
        requestId: req.requestId,
        endpoint: name,
        workerId: this.id,
        service: this.service,
        deadline: req.deadline,
        signal: req.signal,
        log: req.log,
        config: this.opts.config,
        state: this.state,
      };
      await this.opts.definition.before?.(ctx as never);
      const result = await endpoint.handler(input, ctx);
      const parsed = endpoint.output.safeParse(result);
      if (!parsed.success) {
        throw new SynodError('INTERNAL', `endpoint ${name} returned a result that fails its output schema: ${z.prettifyError(parsed.error)}`, {
          details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        });
      }
      return parsed.data;
    } catch (err) {
      // A handler stopped by the deadline (an AbortError from timers, fetch, ...) is answered as such.
      if (req.signal.aborted && !(err instanceof SynodError)) throw req.signal.reason;
      throw err;
    } finally {
      endTimer();
      this.load.finish(performance.now() - started);
    }
  }

  private answerPing(msg: Msg): void {
    if (!msg.reply) return;
    const result: PingResult = { id: this.id, service: this.service, load: this.load.snapshot() };
    const reply: ReplyEnvelope = { result };
    try {
      msg.respond(encoder.encode(JSON.stringify(reply)));
    } catch (err) {
      this.log.warn({ err }, 'could not answer a ping');
    }
  }

  private onDiscover(msg: Msg): void {
    let parsed;
    try {
      parsed = RegistryDiscover.safeParse(JSON.parse(decoder.decode(msg.data)));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      this.drops.record(parsed === undefined ? 'not JSON' : 'not a discover message');
      return;
    }
    this.announce('announce');
  }

  private announce(type: 'announce' | 'heartbeat'): void {
    const { nc, config } = this.opts;
    // A draining worker must not register itself again (a discover may arrive while it drains).
    if (this.draining || nc.isClosed() || nc.isDraining()) return;
    const msg = announceMessage(type, this.identity, this.load.snapshot());
    nc.publish(subjects.registryAnnounce(config.SYNOD_NAMESPACE), encoder.encode(JSON.stringify(msg)));
  }
}
