import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StatusResult, SynodError, subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { AppProcess, appScript, replicaEnv, startNats, uniqueNamespace, type LogLine, type NatsFixture } from '@synod/testkit';
import { servedRoutesOf, type ServedRoutes } from './targets.js';

export type Engine = 'raft' | 'paxos';

/** One process of the stack, with what its ready line says it serves over HTTP. */
export interface StackProcess {
  name: string;
  app: AppProcess;
  ready: LogLine;
  http: (ServedRoutes & { port: number })[];
}

export interface StackOptions {
  engine: Engine;
  /** The gateway's longest wait for a worker (and the bound on its answers), in ms. */
  gatewayTimeoutMs: number;
  /** Environment for every app (after the defaults). */
  env?: Record<string, string>;
}

/** Where the lock manager keeps locks and optimistic values in the store (its defaults, set explicitly). */
export const LOCK_KEY_PREFIX = 'locks';
export const DATA_KEY_PREFIX = 'objects';

/** Longest wait for a process's ready line, a leader, the gateway's first workers: a guard, generous for a busy machine. */
const START_TIMEOUT_MS = 60_000;

/**
 * The gateway's per-client rate, in requests per second: about what one target's inputs reach on
 * the fastest routes, so some answers are 429 and most are not.
 */
export const GATEWAY_RATE_LIMIT_PER_SECOND = 200;

/** Timing of the replicas: fast elections, as in the other process suites. */
const TICK_MS = 20;
const ELECTION_TICKS = 15;

/**
 * The stack the fuzzer runs against, every piece a real process started with the testkit
 * fixtures: a nats-server from PATH (or NATS_URL), three consensus replicas, a lock manager, two
 * sample workers and the gateway, all with their ops HTTP server on a free port, on a namespace of
 * their own. Logs at `error`: garbage is logged at warn by design and would flood the pipes. The
 * gateway runs with every edge feature on (an admin token, API keys, a rate limit, CORS, access
 * logs), so each is fuzzed, and the routes they add are targets.
 */
export class FuzzStack {
  readonly namespace = uniqueNamespace('fz');
  readonly replicaIds = ['n1', 'n2', 'n3'];
  readonly processes: StackProcess[] = [];
  readonly adminToken = `fuzz-${randomBytes(12).toString('hex')}`;
  /** The one key of the gateway's API_KEYS_FILE. */
  readonly apiKey = `fuzz-key-${randomBytes(12).toString('hex')}`;
  /** The one origin of the gateway's CORS_ORIGINS. */
  readonly corsOrigin = 'https://fuzz.example.com';
  nc!: NatsConnection;
  gatewayUrl = '';
  private dataRoot = '';

  private constructor(
    readonly nats: NatsFixture,
    readonly opts: StackOptions,
  ) {}

  static async start(opts: StackOptions): Promise<FuzzStack> {
    const s = new FuzzStack(await startNats(), opts);
    try {
      await s.startAll();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  private common(): Record<string, string> {
    return { NATS_URL: this.nats.url, SYNOD_NAMESPACE: this.namespace, HTTP_PORT: '0', LOG_LEVEL: 'error', ...this.opts.env };
  }

  private async add(name: string, app: string, env: Record<string, string>): Promise<StackProcess> {
    const { app: proc, ready } = await AppProcess.start({ name, script: appScript(app), env, readyTimeoutMs: START_TIMEOUT_MS });
    const p: StackProcess = { name, app: proc, ready, http: servedRoutesOf(ready) };
    this.processes.push(p);
    return p;
  }

  private async startAll(): Promise<void> {
    this.nc = await connect({ servers: this.nats.url, name: 'fuzzer' });
    this.dataRoot = await mkdtemp(join(tmpdir(), 'synod-fuzz-'));
    const apiKeysFile = join(this.dataRoot, 'api-keys.json');
    await writeFile(apiKeysFile, JSON.stringify({ keys: [{ name: 'fuzz', sha256: createHash('sha256').update(this.apiKey).digest('hex') }] }));
    const replicaOpts = {
      natsUrl: this.nats.url,
      namespace: this.namespace,
      ids: this.replicaIds,
      dataRoot: this.dataRoot,
      // RETAIN_REVISIONS=0: no automatic compaction, so every write acknowledged before the run stays readable at its revision.
      env: { ...this.common(), ENGINE: this.opts.engine, TICK_MS: String(TICK_MS), ELECTION_TICKS: String(ELECTION_TICKS), RETAIN_REVISIONS: '0' },
    };
    // Everything at once: none needs another to start (the gateway learns the workers from their
    // announces, the lock manager reaches the store when it is asked to).
    const [gw] = await Promise.all([
      this.add('balancer-gateway', 'balancer-gateway', {
        ...this.common(),
        PORT: '0',
        HOST: '127.0.0.1',
        ADMIN_TOKEN: this.adminToken,
        API_KEYS_FILE: apiKeysFile,
        RATE_LIMIT_PER_SECOND: String(GATEWAY_RATE_LIMIT_PER_SECOND),
        CORS_ORIGINS: this.corsOrigin,
        REQUEST_TIMEOUT_MS: String(this.opts.gatewayTimeoutMs),
      }),
      ...this.replicaIds.map((id) => this.add(`consensus-${id}`, 'consensus', replicaEnv(replicaOpts, id))),
      this.add('lock-manager', 'lock-manager', { ...this.common(), STORE_ATTEMPT_TIMEOUT_MS: '300', LOCK_KEY_PREFIX, DATA_KEY_PREFIX }),
      ...['w1', 'w2'].map((id) => this.add(`worker-${id}`, 'sample-worker', { ...this.common(), WORKER_ID: id })),
    ]);
    // In name order whatever order they came up in, so an input picks the same process on a replay.
    this.processes.sort((a, b) => a.name.localeCompare(b.name));
    this.gatewayUrl = `http://127.0.0.1:${String(gw.ready.port)}`;
    await Promise.all([this.leader(), this.untilGatewayKnows(['w1', 'w2'])]);
  }

  /** The process named `name` (throws if there is none). */
  process(name: string): StackProcess {
    const p = this.processes.find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  /** Processes that have exited, with how. */
  dead(): { name: string; pid: number; exit: string; output: string }[] {
    return this.processes
      .filter((p) => !p.app.running || !pidAlive(p.app.pid))
      .map((p) => ({ name: p.name, pid: p.app.pid, exit: String(p.app.child.exitCode ?? p.app.child.signalCode), output: p.app.describeOutput() }));
  }

  /** The replica every replica agrees leads. */
  async leader(timeoutMs = START_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await Promise.all(this.replicaIds.map((id) => this.status(id, 500).catch(() => undefined)));
      const leader = statuses.find((s) => s?.role === 'leader');
      if (leader && statuses.every((s) => s?.leader === leader.id)) return leader.id;
      if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  status(id: string, timeoutMs: number): Promise<StatusResult> {
    return busRequest(this.nc, subjects.kvNode(this.namespace, id), { type: 'status' }, { timeoutMs, requestId: `fuzz-status-${id}` }).then((r) => StatusResult.parse(r));
  }

  private async untilGatewayKnows(ids: string[], timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${this.gatewayUrl}/v1/workers`, { headers: { 'x-api-key': this.apiKey } });
        const body = (await res.json()) as { workers: { id: string }[] };
        if (ids.every((id) => body.workers.some((w) => w.id === id))) return;
      } catch (err) {
        if (!(err instanceof TypeError) && !(err instanceof SynodError)) throw err;
      }
      if (Date.now() > deadline) throw new Error(`the gateway did not list workers ${ids.join(', ')} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.app.stop(5000)));
    await this.nc?.close().catch(() => undefined);
    await this.nats.stop();
    if (this.dataRoot) await rm(this.dataRoot, { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
