// etcd's side of `bench/locks.ts`: a three-member etcd cluster (Debian's etcd-server, 3.4) on
// loopback ports, locked through etcd's own server-side lock service (v3lockpb.Lock: Lock waits
// until the caller's key is the oldest under the name, Unlock deletes it), over gRPC with
// @grpc/grpc-js (the transport of the `etcd3` package). Like Synod's LockClient (and etcd's own
// concurrency.Session), locks ride on session leases shared by the locks of the client, at most one
// key per name per lease: an acquire is one Lock RPC and a release one Unlock once the session
// exists. Session leases get a TTL longer than a case (no keep-alive stream), revoked at the end.
// (The `etcd3` package's own Lock is a try-lock that fails when the key is taken, so it cannot
// queue waiters.) Requests go round-robin over one connection per member, as a client spread
// over the cluster would; followers forward to the leader.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { EtcdCluster } from './etcd-cluster.js';
import { type Held, type LockTarget } from './locks-common.js';

/** Session leases outlive any case, so no keep-alive stream is needed. */
const SESSION_TTL_S = 600;

export { findEtcd } from './etcd-cluster.js';

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
  private stubs: Stubs[] = [];
  private next = 0;
  /** Session leases, each with the lock names that have a key on it. */
  private readonly sessions: { id: string; names: Set<string> }[] = [];

  private constructor(private readonly cluster: EtcdCluster) {}

  get members(): string[] {
    return this.cluster.members;
  }

  static async start(bin: string): Promise<EtcdLocks> {
    const t = new EtcdLocks(await EtcdCluster.start({ bin, tag: 'locksbench' }));
    try {
      const def = protoLoader.loadSync(['locks-etcd.proto', 'locks-v3lock.proto'], { includeDirs: [here], keepCase: true, longs: String, defaults: true });
      const pkg = grpc.loadPackageDefinition(def) as unknown as {
        etcdserverpb: { KV: grpc.ServiceClientConstructor; Lease: grpc.ServiceClientConstructor };
        v3lockpb: { Lock: grpc.ServiceClientConstructor };
      };
      t.stubs = t.members.map((n) => {
        const addr = `127.0.0.1:${t.cluster.clientPort(n)}`;
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

  private stub(): Stubs {
    return this.stubs[this.next++ % this.stubs.length]!;
  }

  pids(): Map<string, number> {
    return new Map(this.members.map((n) => [`member ${n}`, this.cluster.pid(n)]));
  }

  /** A plain put (for context next to Synod's store put). */
  async put(key: string, value: string): Promise<void> {
    const s = this.stub();
    await call(s.kv.Put, s.kv, { key: Buffer.from(key), value: Buffer.from(value) }, 5000);
  }

  /** A session lease with no key on `name` (granted when none is free); `name` is marked taken on it. */
  private async session(name: string): Promise<{ id: string; names: Set<string> }> {
    let free = this.sessions.find((x) => !x.names.has(name));
    if (!free) {
      const s = this.stub();
      const g = await call(s.lease.LeaseGrant, s.lease, { TTL: SESSION_TTL_S, ID: 0 }, 5000);
      if (g.error) throw new Error(`etcd lease grant: ${g.error}`);
      free = this.sessions.find((x) => !x.names.has(name)) ?? { id: g.ID, names: new Set<string>() };
      if (!this.sessions.includes(free)) this.sessions.push(free);
      else await call(s.lease.LeaseRevoke, s.lease, { ID: g.ID }, 5000).catch(() => undefined);
    }
    free.names.add(name);
    return free;
  }

  async acquire(name: string): Promise<Held> {
    const s = this.stub();
    const session = await this.session(name);
    let key: Buffer;
    try {
      key = (await call(s.lock.Lock, s.lock, { name: Buffer.from(name), lease: session.id }, 30_000)).key;
    } catch (err) {
      session.names.delete(name);
      throw err;
    }
    return {
      release: async () => {
        await call(s.lock.Unlock, s.lock, { key }, 5000);
        session.names.delete(name);
      },
    };
  }

  async stop(): Promise<void> {
    const s0 = this.stubs[0];
    if (s0) await Promise.all(this.sessions.map((x) => call(s0.lease.LeaseRevoke, s0.lease, { ID: x.id }, 5000).catch(() => undefined)));
    for (const s of this.stubs) {
      s.kv.close();
      s.lease.close();
      s.lock.close();
    }
    await this.cluster.stop();
  }
}
