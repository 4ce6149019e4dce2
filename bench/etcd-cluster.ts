// A three-member etcd cluster (Debian's etcd-server, 3.4) on loopback ports, shared by the etcd
// sides of `bench/kv.ts` (kv-etcd.ts) and `bench/locks.ts` (locks-etcd.ts): finds the binary,
// starts the members, waits for health, kills and restarts members, and stops the whole cluster.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@synod/testkit';

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

export interface EtcdClusterOptions {
  /** Path of the `etcd` binary. */
  bin: string;
  /** Names the cluster token (`<tag>-<pid>-<time>`) and the data directories (`etcd-<tag>-<member>-`). */
  tag: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class EtcdCluster {
  readonly members = ['e1', 'e2', 'e3'];
  private readonly byName = new Map<string, Member>();
  private readonly token: string;

  private constructor(
    private readonly bin: string,
    private readonly tag: string,
  ) {
    this.token = `${tag}-${process.pid}-${Date.now().toString(36)}`;
  }

  /** Starts the members and waits until all are healthy; on failure stops what was started. */
  static async start(opts: EtcdClusterOptions): Promise<EtcdCluster> {
    const c = new EtcdCluster(opts.bin, opts.tag);
    try {
      for (const name of c.members) {
        c.byName.set(name, { name, clientPort: await freePort(), peerPort: await freePort(), dir: await mkdtemp(join(tmpdir(), `etcd-${c.tag}-${name}-`)), stderr: [] });
      }
      for (const name of c.members) c.spawn(name);
      await c.healthy(30_000);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** The client URLs of all members, in member order. */
  get urls(): string[] {
    return this.members.map((n) => this.url(n));
  }

  url(name: string): string {
    return `http://127.0.0.1:${this.byName.get(name)!.clientPort}`;
  }

  clientPort(name: string): number {
    return this.byName.get(name)!.clientPort;
  }

  pid(name: string): number {
    return this.byName.get(name)!.child?.pid ?? -1;
  }

  running(name: string): boolean {
    const c = this.byName.get(name)?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
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

  /** Waits until every member answers `/health` with `true`. */
  async healthy(timeoutMs: number): Promise<void> {
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

  /** SIGKILLs a member and waits for its exit; returns `performance.now()` taken just before the kill. */
  async kill(name: string): Promise<number> {
    const m = this.byName.get(name)!;
    const t0 = performance.now();
    m.child!.kill('SIGKILL');
    await m.exited;
    return t0;
  }

  /** Starts a (killed) member again on its data directory and waits until the cluster is healthy. */
  async restart(name: string): Promise<void> {
    this.spawn(name);
    await this.healthy(30_000);
  }

  /** SIGTERMs every running member (SIGKILL after 5 s), then removes the data directories. */
  async stop(): Promise<void> {
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
