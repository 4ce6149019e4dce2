// etcd's side of `bench/kv.ts`: a three-member etcd cluster (Debian's etcd-server, 3.4) on loopback
// ports, driven through the `etcd3` npm client (gRPC via @grpc/grpc-js, etcd's native protocol).
//
// The client's own fault handling is switched off (its default circuit breaker shuts a host out
// for 5 s after three timeouts, which would measure the library, not etcd); the bench retries
// every failure itself with the same policy as on Synod's side, each attempt on a random member
// (followers forward writes and ReadIndex to the leader, as with etcd's Go client).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { freePort } from '@synod/testkit';
import { Counters, errorName, sleep, withRetry, type KvTarget, type RetryPolicy } from './kv-common.js';

export function findEtcd(): { path: string; version: string } | undefined {
  const r = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) return undefined;
  const v = spawnSync(path, ['--version'], { encoding: 'utf8' });
  return { path, version: /etcd Version: (\S+)/.exec(v.stdout)?.[1] ?? 'unknown' };
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dir: string;
  child?: ChildProcess;
  exited?: Promise<void>;
  stderr: string[];
}

interface MemberStatus {
  header: { member_id: string };
  leader: string;
  raftIndex: string;
  raftAppliedIndex?: string;
}

export class EtcdTarget implements KvTarget {
  readonly name = 'etcd';
  readonly counters = new Counters();
  readonly members = ['e1', 'e2', 'e3'];
  private readonly byName = new Map<string, Member>();
  private clients: Etcd3[] = [];
  private next = 0;
  private readonly token = `kvbench-${process.pid}-${Date.now().toString(36)}`;

  private constructor(private readonly bin: string) {}

  static async start(bin: string, connections: number): Promise<EtcdTarget> {
    const t = new EtcdTarget(bin);
    try {
      for (const name of t.members) {
        t.byName.set(name, { name, clientPort: await freePort(), peerPort: await freePort(), dir: await mkdtemp(join(tmpdir(), `etcd-kvbench-${name}-`)), stderr: [] });
      }
      for (const name of t.members) t.spawn(name);
      await t.healthy(30_000);
      const hosts = t.members.map((n) => t.url(n));
      t.clients = Array.from({ length: connections }, () => new Etcd3({ hosts, faultHandling: { host: () => noop, global: noop } }));
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  private url(name: string): string {
    return `http://127.0.0.1:${this.byName.get(name)!.clientPort}`;
  }

  private spawn(name: string): void {
    const m = this.byName.get(name)!;
    const peer = (n: string) => `http://127.0.0.1:${this.byName.get(n)!.peerPort}`;
    const args = [
      `--name=${name}`,
      `--data-dir=${m.dir}`,
      `--listen-client-urls=${this.url(name)}`,
      `--advertise-client-urls=${this.url(name)}`,
      `--listen-peer-urls=${peer(name)}`,
      `--initial-advertise-peer-urls=${peer(name)}`,
      `--initial-cluster=${this.members.map((n) => `${n}=${peer(n)}`).join(',')}`,
      `--initial-cluster-token=${this.token}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=warn',
      '--log-outputs=stderr',
    ];
    const child = spawn(this.bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    m.child = child;
    m.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // Always read stderr, so a full pipe never blocks etcd; keep the tail for error messages.
    child.stderr!.on('data', (chunk: Buffer) => {
      m.stderr.push(chunk.toString());
      if (m.stderr.length > 50) m.stderr.shift();
    });
  }

  private running(name: string): boolean {
    const c = this.byName.get(name)?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  private async healthy(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const ok = await Promise.all(
        this.members.map(async (n) => {
          try {
            const res = await fetch(`${this.url(n)}/health`, { signal: AbortSignal.timeout(1000) });
            return ((await res.json()) as { health?: string }).health === 'true';
          } catch {
            return false;
          }
        }),
      );
      if (ok.every(Boolean)) return;
      if (performance.now() > deadline) {
        throw new Error(`etcd not healthy within ${timeoutMs} ms:\n${this.members.map((n) => `--- ${n}\n${this.byName.get(n)!.stderr.join('').slice(-2000)}`).join('\n')}`);
      }
      await sleep(100);
    }
  }

  private client(): Etcd3 {
    return this.clients[this.next++ % this.clients.length]!;
  }

  private static retryable(err: unknown): string {
    return errorName(err);
  }

  async put(key: string, value: string, policy: RetryPolicy): Promise<number> {
    const c = this.client();
    return withRetry(policy, this.counters, EtcdTarget.retryable, async (timeoutMs) => {
      await c.put(key).value(value).options({ deadline: Date.now() + timeoutMs }).exec();
    });
  }

  async get(key: string, policy: RetryPolicy): Promise<number> {
    const c = this.client();
    return withRetry(policy, this.counters, EtcdTarget.retryable, async (timeoutMs) => {
      // Linearizable: etcd's default (serializable false).
      const r = await c.get(key).options({ deadline: Date.now() + timeoutMs }).exec();
      if (r.kvs.length !== 1 || r.kvs[0]!.value.length !== 256) throw new Error(`range of ${key} gave ${r.kvs.length} keys`);
    });
  }

  pid(member: string): number {
    return this.byName.get(member)!.child?.pid ?? -1;
  }

  private async status(name: string): Promise<MemberStatus | undefined> {
    if (!this.running(name)) return undefined;
    try {
      const res = await fetch(`${this.url(name)}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
      if (res.status !== 200) return undefined;
      return (await res.json()) as MemberStatus;
    } catch {
      return undefined;
    }
  }

  private async statuses(): Promise<{ name: string; s: MemberStatus | undefined }[]> {
    const live = this.members.filter((n) => this.running(n));
    return Promise.all(live.map(async (name) => ({ name, s: await this.status(name) })));
  }

  async leader(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const all = await this.statuses();
      const leaders = new Set(all.map((x) => x.s?.leader));
      const leader = all.find((x) => x.s && x.s.leader !== '0' && x.s.leader === x.s.header.member_id);
      if (leader && leaders.size === 1 && all.every((x) => x.s !== undefined)) return leader.name;
      if (performance.now() > deadline) throw new Error(`etcd: no agreed leader within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  async kill(member: string): Promise<number> {
    const m = this.byName.get(member)!;
    const t0 = performance.now();
    m.child!.kill('SIGKILL');
    await m.exited;
    return t0;
  }

  async restart(member: string): Promise<void> {
    this.spawn(member);
    await this.healthy(30_000);
  }

  async caughtUp(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const all = await this.statuses();
      const leader = all.find((x) => x.s && x.s.leader === x.s.header.member_id);
      if (
        leader &&
        all.length === this.members.length &&
        all.every((x) => x.s !== undefined && x.s.leader === leader.s!.leader && BigInt(x.s.raftAppliedIndex ?? x.s.raftIndex) >= BigInt(leader.s!.raftIndex))
      ) {
        return;
      }
      if (performance.now() > deadline) throw new Error(`etcd: members not caught up within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all(
      [...this.byName.values()].map(async (m) => {
        if (!m.child || !this.running(m.name)) return;
        m.child.kill('SIGTERM');
        const timer = setTimeout(() => m.child!.kill('SIGKILL'), 5000);
        await m.exited;
        clearTimeout(timer);
      }),
    );
    await Promise.all([...this.byName.values()].map((m) => rm(m.dir, { recursive: true, force: true })));
  }
}
