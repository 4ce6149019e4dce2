import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StatusResult, SynodError, subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { DEFAULT_ENGINE } from '@synod/engines';
import { AppProcess, appScript, replicaEnv, startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
// Same fast timing as the consensus process tests.
import { ELECTION_TICKS, TICK_MS } from './replica-cluster.js';

/**
 * A real nats-server, three consensus replicas (as in replica-cluster.ts) and N
 * lock-manager instances, all real processes on one namespace.
 */
export class LockCluster {
  readonly namespace = uniqueNamespace('lk');
  readonly replicas = new Map<string, AppProcess>();
  readonly managers: AppProcess[] = [];
  readonly managerPorts: number[] = [];
  /** Replica data dirs live under it (`<dataRoot>/<id>`). */
  dataRoot = '';
  readonly ids = ['n1', 'n2', 'n3'];
  nc!: NatsConnection;

  private constructor(
    readonly nats: NatsFixture,
    /** The replicas' consensus engine (a name of the engine table). */
    readonly engine: string,
  ) {}

  static async start(managers = 2, managerEnv: Record<string, string> = {}, opts: { engine?: string } = {}): Promise<LockCluster> {
    const c = new LockCluster(await startNats(), opts.engine ?? DEFAULT_ENGINE);
    c.nc = await connect({ servers: c.nats.url });
    c.dataRoot = await mkdtemp(join(tmpdir(), 'synod-lk-'));
    await Promise.all(c.ids.map((id) => c.startReplica(id)));
    for (let i = 0; i < managers; i++) await c.startManager(managerEnv);
    await c.leader();
    return c;
  }

  async startReplica(id: string): Promise<void> {
    const { app } = await AppProcess.start({
      script: appScript('consensus'),
      name: id,
      env: replicaEnv({ natsUrl: this.nats.url, namespace: this.namespace, ids: this.ids, dataRoot: this.dataRoot, env: { TICK_MS: String(TICK_MS), ELECTION_TICKS: String(ELECTION_TICKS), ENGINE: this.engine } }, id),
    });
    this.replicas.set(id, app);
  }

  managerEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      NATS_URL: this.nats.url,
      SYNOD_NAMESPACE: this.namespace,
      HTTP_PORT: '0',
      LOG_LEVEL: 'warn',
      STORE_ATTEMPT_TIMEOUT_MS: '300',
      STORE_TIMEOUT_MS: '4000',
      MAX_REQUEST_BYTES: '65536',
      ...extra,
    };
  }

  async startManager(extra: Record<string, string> = {}): Promise<AppProcess> {
    const i = this.managers.length + 1;
    const { app, ready } = await AppProcess.start({ script: appScript('lock-manager'), name: `lm${i}`, env: this.managerEnv(extra) });
    this.managers.push(app);
    this.managerPorts.push(Number(ready.httpPort));
    return app;
  }

  /** Sum of a counter over the running lock managers' /metrics. */
  async metric(name: string): Promise<number> {
    let sum = 0;
    for (const [i, app] of this.managers.entries()) {
      if (!app.running) continue;
      const text = await (await fetch(`http://127.0.0.1:${this.managerPorts[i]}/metrics`)).text();
      for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)$`, 'gm'))) sum += Number(m[1]);
    }
    return sum;
  }

  /** A raw request on the lock subject (no retries). */
  raw(body: unknown, timeoutMs = 5000): Promise<unknown> {
    return busRequest(this.nc, subjects.lockApi(this.namespace), body, { timeoutMs, requestId: `raw-${Math.random().toString(36).slice(2)}` });
  }

  /** The replica every live replica agrees leads. */
  async leader(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = [...this.replicas].filter(([, a]) => a.running).map(([id]) => id);
      const statuses = await Promise.all(
        live.map((id) =>
          busRequest(this.nc, subjects.kvNode(this.namespace, id), { type: 'status' }, { timeoutMs: 500, requestId: `st-${id}` })
            .then((r) => StatusResult.parse(r))
            .catch((err: unknown) => (err instanceof SynodError ? undefined : undefined)),
        ),
      );
      const leader = statuses.find((s) => s?.role === 'leader');
      if (leader && new Set(statuses.map((s) => s?.leader)).size === 1 && statuses.every((s) => s !== undefined)) return leader.id;
      if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.managers.map((a) => a.stop(5000)));
    await Promise.all([...this.replicas.values()].map((a) => a.stop(5000)));
    await this.nc?.close();
    await this.nats.stop();
    if (this.dataRoot) await rm(this.dataRoot, { recursive: true, force: true });
  }
}

/**
 * The fenced resource of the safety tests: begin(token) then commit(token). A token lower than the
 * highest seen is rejected, and so is a commit when a higher token began since its begin. Each
 * accepted commit is recorded with the time its section began and ended.
 */
export class FencedResource {
  highest = 0;
  counter = 0;
  accepted: { token: number; begin: number; end: number }[] = [];
  acceptedBegins: number[] = [];
  rejectedBegins: number[] = [];
  rejectedCommits: number[] = [];
  private readonly began = new Map<number, number>();

  begin(token: number): boolean {
    if (token < this.highest) {
      this.rejectedBegins.push(token);
      return false;
    }
    this.highest = token;
    this.acceptedBegins.push(token);
    this.began.set(token, performance.now());
    return true;
  }

  commit(token: number): boolean {
    const began = this.began.get(token);
    if (began === undefined || token < this.highest) {
      this.rejectedCommits.push(token);
      return false;
    }
    this.counter++;
    this.accepted.push({ token, begin: began, end: performance.now() });
    return true;
  }
}

/** Counts holders of each mode at once and fails on any state a lock must prevent. */
export class SharedResource {
  readers = 0;
  writers = 0;
  holders = 0;
  maxReaders = 0;
  maxHolders = 0;
  violations: string[] = [];

  enter(mode: 'read' | 'write' | 'semaphore', permits = 1): void {
    if (mode === 'read') {
      if (this.writers > 0) this.violations.push('reader entered while a writer held');
      this.readers++;
      this.maxReaders = Math.max(this.maxReaders, this.readers);
    } else if (mode === 'write') {
      if (this.writers > 0 || this.readers > 0) this.violations.push(`writer entered with ${this.writers} writers and ${this.readers} readers`);
      this.writers++;
    } else {
      this.holders++;
      this.maxHolders = Math.max(this.maxHolders, this.holders);
      if (this.holders > permits) this.violations.push(`${this.holders} semaphore holders with ${permits} permits`);
    }
  }

  exit(mode: 'read' | 'write' | 'semaphore'): void {
    if (mode === 'read') this.readers--;
    else if (mode === 'write') this.writers--;
    else this.holders--;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
