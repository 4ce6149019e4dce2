// etcd's side of `bench/locks.ts`: a three-member etcd cluster (Debian's etcd-server, 3.4) on
// loopback ports, locked through etcd's own server-side lock service (v3lockpb.Lock: Lock waits
// until the caller's key is the oldest under the name, Unlock deletes it), over gRPC with
// @grpc/grpc-js (the transport of the `etcd3` package). Like Synod's LockClient, each acquire
// grants its own lease (TTL 10 s) and each release unlocks then revokes it: four RPCs per lock.
// (The `etcd3` package's own Lock is a try-lock that fails when the key is taken, so it cannot
// queue waiters.) Requests go round-robin over one connection per member, as a client spread
// over the cluster would; followers forward to the leader.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { freePort } from '@synod/testkit';
import { TTL_MS, sleep, type Held, type LockTarget } from './locks-common.js';

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

type Unary<Req, Res> = (req: Req, opts: { deadline: number }, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;

interface Stubs {
  kv: grpc.Client & { Put: Unary<{ key: Buffer; value: Buffer }, unknown> };
  lease: grpc.Client & {
    LeaseGrant: Unary<{ TTL: number; ID: number }, { ID: string; error: string }>;
    LeaseRevoke: Unary<{ ID: string }, unknown>;
  };
  lock: grpc.Client & {
    Lock: Unary<{ name: Buffer; lease: string }, { key: Buffer }>;
    Unlock: Unary<{ key: Buffer }, unknown>;
  };
}

function call<Req, Res>(fn: Unary<Req, Res>, self: grpc.Client, req: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(self, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

const here = dirname(fileURLToPath(import.meta.url));

export class EtcdLocks implements LockTarget {
  readonly name = 'etcd';
  readonly members = ['e1', 'e2', 'e3'];
  private readonly byName = new Map<string, Member>();
  private stubs: Stubs[] = [];
  private next = 0;
  private readonly token = `locksbench-${process.pid}-${Date.now().toString(36)}`;

  private constructor(private readonly bin: string) {}

  static async start(bin: string): Promise<EtcdLocks> {
    const t = new EtcdLocks(bin);
    try {
      for (const name of t.members) {
        t.byName.set(name, { name, clientPort: await freePort(), peerPort: await freePort(), dir: await mkdtemp(join(tmpdir(), `etcd-locksbench-${name}-`)), stderr: [] });
      }
      for (const name of t.members) t.spawn(name);
      await t.healthy(30_000);
      const def = protoLoader.loadSync(['locks-etcd.proto', 'locks-v3lock.proto'], { includeDirs: [here], keepCase: true, longs: String, defaults: true });
      const pkg = grpc.loadPackageDefinition(def) as unknown as {
        etcdserverpb: { KV: grpc.ServiceClientConstructor; Lease: grpc.ServiceClientConstructor };
        v3lockpb: { Lock: grpc.ServiceClientConstructor };
      };
      t.stubs = t.members.map((n) => {
        const addr = `127.0.0.1:${t.byName.get(n)!.clientPort}`;
        const creds = grpc.credentials.createInsecure();
        // grpc-js shares one connection per address between the three service clients.
        return {
          kv: new pkg.etcdserverpb.KV(addr, creds) as unknown as Stubs['kv'],
          lease: new pkg.etcdserverpb.Lease(addr, creds) as unknown as Stubs['lease'],
          lock: new pkg.v3lockpb.Lock(addr, creds) as unknown as Stubs['lock'],
        };
      });
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

  private stub(): Stubs {
    return this.stubs[this.next++ % this.stubs.length]!;
  }

  pids(): Map<string, number> {
    return new Map(this.members.map((n) => [`member ${n}`, this.byName.get(n)!.child?.pid ?? -1]));
  }

  /** A plain put (for context next to Synod's store put). */
  async put(key: string, value: string): Promise<void> {
    const s = this.stub();
    await call(s.kv.Put, s.kv, { key: Buffer.from(key), value: Buffer.from(value) }, 5000);
  }

  async acquire(name: string): Promise<Held> {
    const s = this.stub();
    const g = await call(s.lease.LeaseGrant, s.lease, { TTL: TTL_MS / 1000, ID: 0 }, 5000);
    if (g.error) throw new Error(`etcd lease grant: ${g.error}`);
    let key: Buffer;
    try {
      key = (await call(s.lock.Lock, s.lock, { name: Buffer.from(name), lease: g.ID }, 30_000)).key;
    } catch (err) {
      await call(s.lease.LeaseRevoke, s.lease, { ID: g.ID }, 5000).catch(() => undefined);
      throw err;
    }
    return {
      release: async () => {
        await call(s.lock.Unlock, s.lock, { key }, 5000);
        await call(s.lease.LeaseRevoke, s.lease, { ID: g.ID }, 5000);
      },
    };
  }

  async stop(): Promise<void> {
    for (const s of this.stubs) {
      s.kv.close();
      s.lease.close();
      s.lock.close();
    }
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
