import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_ENGINE, ENGINE_NAMES } from '@synod/engines';
import { SynodError, StatusResult, subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { AppProcess, appScript, startNats, TcpProxy, uniqueNamespace, type NatsFixture } from '@synod/testkit';

/** Timing used by the process tests: fast elections, bounds derived from these. */
export const TICK_MS = 20;
export const ELECTION_TICKS = 10;
/** The longest a randomized election timeout can be. */
export const MAX_ELECTION_MS = 2 * ELECTION_TICKS * TICK_MS;

/** The engines every process test runs with: the whole engine table (`ENGINES=paxos` narrows a local run). */
export const ENGINES: string[] = process.env.ENGINES === undefined ? [...ENGINE_NAMES] : process.env.ENGINES.split(',').filter((e) => ENGINE_NAMES.includes(e));

/** How long one attempt waits for a reply before trying again (a request to a dead leader never gets one). */
export const ATTEMPT_TIMEOUT_MS = 500;

/** Three (or five) real replica processes on one NATS server, each with its own data dir. */
export class ReplicaCluster {
  readonly namespace = uniqueNamespace('kv');
  readonly apps = new Map<string, AppProcess>();
  readonly dirs = new Map<string, string>();
  /** With `proxied`, each replica reaches NATS through its own proxy, so its network can be cut. */
  readonly proxies = new Map<string, TcpProxy>();
  nc!: NatsConnection;
  private seq = 0;
  readonly clientId = `test-${Math.random().toString(36).slice(2, 10)}`;

  private constructor(
    readonly nats: NatsFixture,
    readonly ids: string[],
    readonly engine: string,
  ) {}

  static async start(n = 3, extraEnv: Record<string, string> = {}, opts: { proxied?: boolean; engine?: string } = {}): Promise<ReplicaCluster> {
    const c = new ReplicaCluster(await startNats(), Array.from({ length: n }, (_, i) => `n${i + 1}`), opts.engine ?? DEFAULT_ENGINE);
    c.nc = await connect({ servers: c.nats.url });
    for (const id of c.ids) c.dirs.set(id, await mkdtemp(join(tmpdir(), `synod-${id}-`)));
    if (opts.proxied) {
      const port = Number(new URL(c.nats.url).port);
      for (const id of c.ids) c.proxies.set(id, await TcpProxy.start({ port }));
    }
    await Promise.all(c.ids.map((id) => c.startReplica(id, extraEnv)));
    return c;
  }

  env(id: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      NATS_URL: this.proxies.has(id) ? `nats://127.0.0.1:${this.proxies.get(id)!.port}` : this.nats.url,
      SYNOD_NAMESPACE: this.namespace,
      NODE_ID: id,
      PEERS: this.ids.join(','),
      DATA_DIR: this.dirs.get(id)!,
      TICK_MS: String(TICK_MS),
      ELECTION_TICKS: String(ELECTION_TICKS),
      ENGINE: this.engine,
      LOG_LEVEL: 'info',
      ...extra,
    };
  }

  async startReplica(id: string, extra: Record<string, string> = {}): Promise<AppProcess> {
    const { app } = await AppProcess.start({ script: appScript('consensus'), name: id, env: this.env(id, extra) });
    this.apps.set(id, app);
    return app;
  }

  app(id: string): AppProcess {
    return this.apps.get(id)!;
  }

  /** One request with retries on everything retryable, until `timeoutMs`. */
  async call(subject: string, body: unknown, timeoutMs = 10_000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      try {
        return await busRequest(this.nc, subject, body, { timeoutMs: Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()), requestId: `t${attempt}` });
      } catch (err) {
        last = err;
        if (!(err instanceof SynodError) || !err.retryable) throw err;
        await new Promise((r) => setTimeout(r, Math.min(200, 10 * 2 ** attempt)));
      }
    }
    throw last;
  }

  /** A write through the leader with a fresh session seq (retries reuse it: exactly-once). */
  write(op: unknown, timeoutMs?: number): Promise<unknown> {
    const seq = ++this.seq;
    return this.call(subjects.kvLeader(this.namespace), { type: 'write', session: { clientId: this.clientId, seq }, op }, timeoutMs);
  }

  put(key: string, value: string, extra: Record<string, unknown> = {}): Promise<{ revision: number }> {
    return this.write({ op: 'put', key, value, ...extra }) as Promise<{ revision: number }>;
  }

  async get(key: string, consistency: 'linearizable' | 'lease' | 'stale' = 'linearizable', node?: string, timeoutMs?: number): Promise<string | null> {
    const subject = node ? subjects.kvNode(this.namespace, node) : consistency === 'stale' ? subjects.kvAny(this.namespace) : subjects.kvLeader(this.namespace);
    const r = (await this.call(subject, { type: 'range', consistency, request: { key } }, timeoutMs)) as { kvs: { value: string }[] };
    return r.kvs[0]?.value ?? null;
  }

  async status(id?: string): Promise<StatusResult> {
    const subject = id ? subjects.kvNode(this.namespace, id) : subjects.kvLeader(this.namespace);
    return StatusResult.parse(await this.call(subject, { type: 'status' }));
  }

  /** Waits until the live replicas agree on one leader; returns it. */
  async leader(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = [...this.apps].filter(([, a]) => a.running).map(([id]) => id);
      const statuses = await Promise.all(live.map((id) => this.status(id).catch(() => undefined)));
      const leaders = new Set(statuses.map((s) => s?.leader));
      const leader = statuses.find((s) => s?.role === 'leader');
      if (leader && leaders.size === 1 && statuses.every((s) => s !== undefined)) return leader.id;
      if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms: ${JSON.stringify(statuses.map((s) => s && [s.id, s.role, s.leader, s.term]))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    for (const a of this.apps.values()) a.signal('SIGCONT');
    await Promise.all([...this.apps.values()].map((a) => a.stop(5000)));
    await this.nc?.close();
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    await this.nats.stop();
    await Promise.all([...this.dirs.values()].map((d) => rm(d, { recursive: true, force: true })));
  }
}
