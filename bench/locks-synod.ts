// Synod's side of `bench/locks.ts`: three consensus replicas (bench/kv-synod.ts's SynodTarget:
// real processes, data dirs in a temp dir) and two lock-manager instances on one nats-server,
// locked through @synod/locks's LockClient (locks ride on the client's shared session leases: once
// a session exists, an acquire is one request — one txn — and a release one compare-and-delete),
// over a few NATS connections.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@synod/protocol';
import { LockClient } from '@synod/locks';
import { BusRequester, busRequest } from '@synod/service-kit';
import { AppProcess, appScript } from '@synod/testkit';
import * as hdr from 'hdr-histogram-js';
import { LOAD_POLICY } from './kv-common.js';
import { SynodTarget } from './kv-synod.js';
import { TTL_MS, type Held, type LockTarget } from './locks-common.js';

export interface SynodLocksOptions {
  tickMs: number;
  electionTicks: number;
  managers: number;
  connections: number;
  /** LockClient's longest single wait on one instance (its default when absent). */
  pollMs?: number;
  /** Extra environment for every replica and lock manager (a profiler preload...). */
  extraEnv?: Record<string, string>;
  /**
   * Also start the forwarding lock manager (bench/locks-forwarder.ts: the same txns, no lock logic),
   * as many instances as `managers`, and LockClients through it (see `forwarder()`).
   */
  forwarder?: boolean;
}

export class SynodLocks implements LockTarget {
  readonly name = 'synod';
  private store?: SynodTarget;
  private readonly managers: AppProcess[] = [];
  private readonly managerLabels: string[] = [];
  private conns: NatsConnection[] = [];
  private clients: LockClient[] = [];
  private fwdClients: LockClient[] = [];
  private next = 0;
  private requestIds = 0;
  private requester?: BusRequester;

  private constructor() {}

  static async start(o: SynodLocksOptions): Promise<SynodLocks> {
    const t = new SynodLocks();
    try {
      t.store = await SynodTarget.start({ connections: 2, tickMs: o.tickMs, electionTicks: o.electionTicks, ...(o.extraEnv ? { extraEnv: o.extraEnv } : {}) });
      const store = t.store;
      await store.leader(30_000);
      for (let i = 1; i <= o.managers; i++) {
        const { app } = await AppProcess.start({
          script: appScript('lock-manager'),
          name: `lm${i}`,
          env: { NATS_URL: store.natsUrl, SYNOD_NAMESPACE: store.namespace, HTTP_PORT: '0', LOG_LEVEL: 'warn', ...o.extraEnv },
        });
        t.managers.push(app);
        t.managerLabels.push(`lock manager ${i}`);
      }
      if (o.forwarder) {
        for (let i = 1; i <= o.managers; i++) {
          const { app } = await AppProcess.start({
            script: fileURLToPath(new URL('./locks-forwarder.ts', import.meta.url)),
            name: `fwd${i}`,
            env: { NATS_URL: store.natsUrl, SYNOD_NAMESPACE: `${store.namespace}-fwd`, STORE_NAMESPACE: store.namespace, HTTP_PORT: '0', LOG_LEVEL: 'warn', ...o.extraEnv },
          });
          t.managers.push(app);
          t.managerLabels.push(`forwarder ${i}`);
        }
      }
      t.conns = await Promise.all(Array.from({ length: o.connections }, () => connect({ servers: store.natsUrl })));
      t.clients = t.conns.map((nc) => new LockClient({ nc, namespace: store.namespace, ...(o.pollMs === undefined ? {} : { pollMs: o.pollMs }) }));
      if (o.forwarder) t.fwdClients = t.conns.map((nc) => new LockClient({ nc, namespace: `${store.namespace}-fwd` }));
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  /** The same store and client connections, locked through the forwarding lock manager instead. */
  forwarder(): LockTarget {
    if (this.fwdClients.length === 0) throw new Error('started without the forwarder');
    return {
      name: 'forwarder',
      acquire: (name) => SynodLocks.acquireWith(this.fwdClients[this.next++ % this.fwdClients.length]!, name),
      pids: () => this.pids(),
      stop: () => this.stop(),
    };
  }

  acquire(name: string): Promise<Held> {
    return SynodLocks.acquireWith(this.clients[this.next++ % this.clients.length]!, name);
  }

  private static async acquireWith(client: LockClient, name: string): Promise<Held> {
    const l = await client.acquire(name, { ttlMs: TTL_MS, timeoutMs: 30_000 });
    return {
      release: async () => {
        if (!(await l.release())) throw new Error(`synod: ${name} was not held any more at release`);
      },
    };
  }

  pids(): Map<string, number> {
    const m = new Map<string, number>();
    for (const id of this.store?.members ?? []) m.set(`replica ${id}`, this.store!.pid(id));
    for (const [i, a] of this.managers.entries()) m.set(this.managerLabels[i]!, a.pid);
    // The nats-server is a child of this process (testkit's startNats).
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === process.pid && stat.includes('(nats-server)')) m.set('nats-server', Number(d));
      } catch {
        // gone meanwhile
      }
    }
    return m;
  }

  /** A plain put through the store (kv-synod's client: a session write to the leader), 1 client. */
  put(key: string, value: string): Promise<number> {
    return this.store!.put(key, value, LOAD_POLICY);
  }

  /**
   * Where an uncontended acquire+release goes: the lock-API requests LockClient makes on a session
   * that exists already, sent one at a time with no retries, each timed alone (microseconds).
   */
  async steps(iterations: number): Promise<Map<string, hdr.Histogram>> {
    const nc = this.conns[0]!;
    // Sent the way LockClient sends (one inbox subscription), so only the client's own work is left out.
    const via = (this.requester ??= new BusRequester(nc));
    const subject = subjects.lockApi(this.store!.namespace);
    const h = new Map<string, hdr.Histogram>();
    const step = async <T>(label: string, body: object): Promise<T> => {
      const t0 = performance.now();
      const r = (await busRequest(nc, subject, body, { timeoutMs: 5000, requestId: `steps-${++this.requestIds}`, via })) as T;
      let hist = h.get(label);
      if (!hist) h.set(label, (hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })));
      hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      return r;
    };
    const { lease } = await step<{ lease: number }>('session (lease grant, once per session)', { type: 'session', ttlMs: TTL_MS });
    for (let i = 0; i < iterations; i++) {
      const name = 'steps';
      const { token } = await step<{ token: number }>('acquire (one txn: create + read the line)', { type: 'acquire', name, lease, timeoutMs: 0, mode: 'mutex', lockDelayMs: 0, keepWaiting: false });
      await step('release (one compare-and-delete txn)', { type: 'release', name, lease, token, mode: 'mutex' });
    }
    await step('revoke (lease revoke, once per session)', { type: 'revoke', lease });
    return h;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.clients, ...this.fwdClients].map((c) => c.close()));
    this.requester?.close();
    await Promise.all(this.conns.map((c) => c.close()));
    await Promise.all(this.managers.map((a) => a.stop(5000)));
    await this.store?.stop();
  }
}
