// Synod's side of `bench/kv.ts`: three consensus replicas (real processes) on one nats-server, and
// a client over a few NATS connections that retries the way libs/store-client does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StatusResult, SynodError, subjects } from '@synod/protocol';
import { busRequest, sharedRequester } from '@synod/service-kit';
import { AppProcess, appScript, startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { Counters, sleep, withRetry, type KvTarget, type RetryPolicy } from './kv-common.js';

const enc = new TextEncoder();

/** Codes libs/store-client retries by itself. */
const RETRIED = new Set(['NO_RESPONDERS', 'NOT_LEADER', 'UNAVAILABLE', 'OVERLOADED', 'SHUTTING_DOWN', 'TIMEOUT']);

function retryable(err: unknown): string | undefined {
  return err instanceof SynodError && err.retryable && RETRIED.has(err.code) ? err.code : undefined;
}

interface Session {
  clientId: string;
  seq: number;
  nc: NatsConnection;
}

export interface SynodOptions {
  connections: number;
  tickMs: number;
  electionTicks: number;
  /** Extra environment for every replica (SNAPSHOT_EVERY, NODE_OPTIONS for a profiler preload...). */
  extraEnv?: Record<string, string>;
  /** The replicas' consensus engine (default raft). */
  engine?: 'raft' | 'paxos';
  /** The replica's bundle to run (default this workspace's build: apps/consensus/dist/main.js). */
  script?: string;
}

export class SynodTarget implements KvTarget {
  /** `synod` on Raft (as it always was), `synod-paxos` on Multi-Paxos. */
  readonly name: string;
  readonly counters = new Counters();
  readonly members = ['n1', 'n2', 'n3'];
  readonly namespace = uniqueNamespace('kvbench');
  /** Computed once, as @synod/store-client does (building it checks the namespace with zod). */
  private readonly leaderSubject = subjects.kvLeader(this.namespace);
  private readonly apps = new Map<string, AppProcess>();
  private readonly dirs = new Map<string, string>();
  private conns: NatsConnection[] = [];
  /** Idle client sessions: each in-flight request holds one, so a session's seqs never overlap. */
  private readonly idle: Session[] = [];
  private sessions = 0;
  private requestIds = 0;
  private nats!: NatsFixture;

  private constructor(private readonly o: SynodOptions) {
    this.name = o.engine === 'paxos' ? 'synod-paxos' : 'synod';
  }

  static async start(o: SynodOptions): Promise<SynodTarget> {
    const t = new SynodTarget(o);
    try {
      t.nats = await startNats();
      for (const id of t.members) t.dirs.set(id, await mkdtemp(join(tmpdir(), `synod-kvbench-${id}-`)));
      await Promise.all(t.members.map((id) => t.startReplica(id)));
      t.conns = await Promise.all(Array.from({ length: o.connections }, () => connect({ servers: t.nats.url })));
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  get natsUrl(): string {
    return this.nats.url;
  }

  private async startReplica(id: string): Promise<void> {
    const { app } = await AppProcess.start({
      script: this.o.script ?? appScript('consensus'),
      name: id,
      env: {
        NATS_URL: this.nats.url,
        SYNOD_NAMESPACE: this.namespace,
        NODE_ID: id,
        PEERS: this.members.join(','),
        DATA_DIR: this.dirs.get(id)!,
        TICK_MS: String(this.o.tickMs),
        ELECTION_TICKS: String(this.o.electionTicks),
        ENGINE: this.o.engine ?? 'raft',
        LOG_LEVEL: 'info',
        ...this.o.extraEnv,
      },
    });
    this.apps.set(id, app);
  }

  private request(nc: NatsConnection, subject: string, body: Uint8Array | object, timeoutMs: number): Promise<unknown> {
    // Through the connection's BusRequester, as @synod/store-client sends (nc.request builds Error
    // objects with stack traces for every request).
    return busRequest(nc, subject, body, { timeoutMs, requestId: `b${++this.requestIds}`, via: sharedRequester(nc) });
  }

  async put(key: string, value: string, policy: RetryPolicy): Promise<number> {
    const s = this.idle.pop() ?? this.newSession();
    const seq = ++s.seq;
    // Every answer below seq was received (or given up on): the replicas may drop them.
    const body = enc.encode(JSON.stringify({ type: 'write', session: { clientId: s.clientId, seq, ackBelow: seq }, op: { op: 'put', key, value } }));
    try {
      return await withRetry(policy, this.counters, retryable, (timeoutMs) => this.request(s.nc, this.leaderSubject, body, timeoutMs).then(() => undefined));
    } finally {
      this.idle.push(s);
    }
  }

  async get(key: string, policy: RetryPolicy): Promise<number> {
    const nc = this.conns[this.requestIds % this.conns.length]!;
    const body = enc.encode(JSON.stringify({ type: 'range', consistency: 'linearizable', request: { key } }));
    return withRetry(policy, this.counters, retryable, async (timeoutMs) => {
      const r = (await this.request(nc, this.leaderSubject, body, timeoutMs)) as { kvs: { value: string }[] };
      if (r.kvs.length !== 1 || r.kvs[0]!.value.length !== 256) throw new Error(`range of ${key} gave ${r.kvs.length} keys`);
    });
  }

  private newSession(): Session {
    const n = this.sessions++;
    return { clientId: `bench-${process.pid}-${n}-${Math.random().toString(36).slice(2, 8)}`, seq: 0, nc: this.conns[n % this.conns.length]! };
  }

  pid(member: string): number {
    return this.apps.get(member)!.pid;
  }

  async status(id: string): Promise<StatusResult | undefined> {
    try {
      return StatusResult.parse(await this.request(this.conns[0]!, subjects.kvNode(this.namespace, id), { type: 'status' }, 1000));
    } catch {
      return undefined;
    }
  }

  private live(): string[] {
    return this.members.filter((id) => this.apps.get(id)?.running);
  }

  async leader(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const statuses = await Promise.all(this.live().map((id) => this.status(id)));
      const leaders = new Set(statuses.map((s) => s?.leader));
      const leader = statuses.find((s) => s?.role === 'leader');
      if (leader && leaders.size === 1 && statuses.every((s) => s !== undefined)) return leader.id;
      if (performance.now() > deadline) throw new Error(`synod: no agreed leader within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  async kill(member: string): Promise<number> {
    const app = this.apps.get(member)!;
    const t0 = performance.now();
    await app.kill();
    return t0;
  }

  async restart(member: string): Promise<void> {
    await this.startReplica(member);
  }

  async caughtUp(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const statuses = await Promise.all(this.members.map((id) => this.status(id)));
      const leader = statuses.find((s) => s?.role === 'leader');
      if (leader && statuses.every((s) => s !== undefined && s.leader === leader.id && s.appliedIndex >= leader.commitIndex)) return;
      if (performance.now() > deadline) throw new Error(`synod: replicas not caught up within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** The replica's `became leader` log line, converted from wall-clock to performance.now(). */
  becameLeaderAt(member: string, after: number): number | undefined {
    const offset = Date.now() - performance.now();
    const lines = this.apps.get(member)?.lines ?? [];
    for (const l of lines) {
      if (l.msg === 'became leader' && typeof l.time === 'number' && l.time - offset >= after) return l.time - offset;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.apps.values()].map((a) => a.stop(5000)));
    await Promise.all(this.conns.map((c) => c.close()));
    await this.nats?.stop();
    await Promise.all([...this.dirs.values()].map((d) => rm(d, { recursive: true, force: true })));
  }
}
