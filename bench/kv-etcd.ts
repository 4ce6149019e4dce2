// etcd's side of `bench/kv.ts`: a three-member etcd cluster (Debian's etcd-server, 3.4) on loopback
// ports, driven through the `etcd3` npm client (gRPC via @grpc/grpc-js, etcd's native protocol).
//
// The client's own fault handling is switched off (its default circuit breaker shuts a host out
// for 5 s after three timeouts, which would measure the library, not etcd); the bench retries
// every failure itself with the same policy as on Synod's side, each attempt on a random member
// (followers forward writes and ReadIndex to the leader, as with etcd's Go client).
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from './etcd-cluster.js';
import { Counters, errorName, sleep, withRetry, type KvTarget, type RetryPolicy } from './kv-common.js';

export { findEtcd } from './etcd-cluster.js';

interface MemberStatus {
  header: { member_id: string };
  leader: string;
  raftIndex: string;
  raftAppliedIndex?: string;
}

export class EtcdTarget implements KvTarget {
  readonly name = 'etcd';
  readonly counters = new Counters();
  private clients: Etcd3[] = [];
  private next = 0;

  private constructor(private readonly cluster: EtcdCluster) {}

  get members(): string[] {
    return this.cluster.members;
  }

  static async start(bin: string, connections: number): Promise<EtcdTarget> {
    const t = new EtcdTarget(await EtcdCluster.start({ bin, tag: 'kvbench' }));
    try {
      const hosts = t.cluster.urls;
      t.clients = Array.from({ length: connections }, () => new Etcd3({ hosts, faultHandling: { host: () => noop, global: noop } }));
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
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
    return this.cluster.pid(member);
  }

  private async status(name: string): Promise<MemberStatus | undefined> {
    if (!this.cluster.running(name)) return undefined;
    try {
      const res = await fetch(`${this.cluster.url(name)}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
      if (res.status !== 200) return undefined;
      return (await res.json()) as MemberStatus;
    } catch {
      return undefined;
    }
  }

  private async statuses(): Promise<{ name: string; s: MemberStatus | undefined }[]> {
    const live = this.members.filter((n) => this.cluster.running(n));
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

  kill(member: string): Promise<number> {
    return this.cluster.kill(member);
  }

  restart(member: string): Promise<void> {
    return this.cluster.restart(member);
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
    await this.cluster.stop();
  }
}
