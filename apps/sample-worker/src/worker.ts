import {
  EchoInput,
  HashInput,
  RegistryDiscover,
  SleepInput,
  subjects,
  type WorkerAnnounce,
  type WorkerDeregister,
} from '@synod/protocol';
import {
  Counter,
  EndpointServer,
  Gauge,
  Histogram,
  type Logger,
  type NatsConnection,
  type Registry,
} from '@synod/service-kit';
import { echo, hash, sleepFor } from './endpoints.js';

export interface WorkerOptions {
  nc: NatsConnection;
  log: Logger;
  metrics: Registry;
  namespace: string;
  service: string;
  id: string;
  weight: number;
  heartbeatIntervalMs: number;
  maxRequestBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The sample worker: serves `echo`, `hash` and `sleep` on its own instance subjects, announces
 * itself on the registry, heartbeats with its load, answers a gateway's discover, and on stop
 * deregisters first, then finishes in-flight jobs.
 */
export class SampleWorker {
  private readonly endpoints: EndpointServer;
  private heartbeat: NodeJS.Timeout | undefined;
  private served = 0;
  private errors = 0;
  private readonly log: Logger;
  private draining = false;

  constructor(private readonly opts: WorkerOptions) {
    this.log = opts.log.child({ component: 'worker' });
    const jobs = new Counter({
      name: 'synod_worker_jobs_total',
      help: 'Jobs answered, by endpoint and outcome',
      labelNames: ['endpoint', 'outcome', 'code'],
      registers: [opts.metrics],
    });
    const duration = new Histogram({
      name: 'synod_worker_job_duration_seconds',
      help: 'Time from receiving a job to replying',
      labelNames: ['endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [opts.metrics],
    });
    const inFlight = (): number => this.endpoints.inFlight;
    new Gauge({
      name: 'synod_worker_in_flight',
      help: 'Jobs being handled',
      registers: [opts.metrics],
      collect() {
        this.set(inFlight());
      },
    });
    this.endpoints = new EndpointServer({
      nc: opts.nc,
      log: opts.log,
      onOutcome: (endpoint, outcome, code) => {
        this.served++;
        if (outcome === 'error') this.errors++;
        jobs.inc({ endpoint, outcome, code: code ?? '' });
      },
    });
    const timed =
      <I, O>(endpoint: string, fn: (input: I, signal: AbortSignal) => Promise<O> | O) =>
      async (input: I, ctx: { signal: AbortSignal }) => {
        const end = duration.startTimer({ endpoint });
        try {
          return await fn(input, ctx.signal);
        } finally {
          end();
        }
      };
    const common = { maxRequestBytes: opts.maxRequestBytes };
    this.endpoints.add('echo', {
      ...common,
      subject: this.subject('echo'),
      input: EchoInput,
      handler: timed('echo', (input: EchoInput) => echo(input, opts.id)),
    });
    this.endpoints.add('hash', {
      ...common,
      subject: this.subject('hash'),
      input: HashInput,
      handler: timed('hash', (input: HashInput) => hash(input, opts.id)),
    });
    this.endpoints.add('sleep', {
      ...common,
      subject: this.subject('sleep'),
      input: SleepInput,
      handler: timed('sleep', (input: SleepInput, signal: AbortSignal) => sleepFor(input, opts.id, signal)),
    });
  }

  static readonly ENDPOINTS = ['echo', 'hash', 'sleep'];

  start(): void {
    const { nc, namespace } = this.opts;
    nc.subscribe(subjects.registryDiscover(namespace), {
      callback: (err, msg) => {
        if (err) return;
        let parsed;
        try {
          parsed = RegistryDiscover.safeParse(JSON.parse(decoder.decode(msg.data)));
        } catch {
          parsed = undefined;
        }
        if (!parsed?.success) {
          this.log.warn('malformed discover message ignored');
          return;
        }
        this.announce('announce');
      },
    });
    this.announce('announce');
    this.heartbeat = setInterval(() => this.announce('heartbeat'), this.opts.heartbeatIntervalMs);
  }

  get inFlight(): number {
    return this.endpoints.inFlight;
  }

  /** Deregisters, stops taking jobs, and waits for in-flight ones. */
  async stop(timeoutMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeat);
    const msg: WorkerDeregister = { type: 'deregister', v: 1, id: this.opts.id, service: this.opts.service };
    this.opts.nc.publish(subjects.registryDeregister(this.opts.namespace), encoder.encode(JSON.stringify(msg)));
    // Make sure gateways have the deregister before we stop answering.
    await this.opts.nc.flush();
    const inFlight = this.endpoints.inFlight;
    const finished = await this.endpoints.stop(timeoutMs);
    this.log.info({ inFlightAtStop: inFlight, finished }, 'endpoints drained');
  }

  private subject(endpoint: string): string {
    return subjects.workerEndpoint(this.opts.namespace, this.opts.service, this.opts.id, endpoint);
  }

  private announce(type: 'announce' | 'heartbeat'): void {
    const msg: WorkerAnnounce = {
      type,
      v: 1,
      id: this.opts.id,
      service: this.opts.service,
      weight: this.opts.weight,
      endpoints: SampleWorker.ENDPOINTS,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      load: { inFlight: this.endpoints.inFlight, served: this.served, errors: this.errors },
    };
    // A draining worker must not re-register itself (a discover may arrive while it drains).
    if (this.draining || this.opts.nc.isClosed() || this.opts.nc.isDraining()) return;
    this.opts.nc.publish(subjects.registryAnnounce(this.opts.namespace), encoder.encode(JSON.stringify(msg)));
  }
}
