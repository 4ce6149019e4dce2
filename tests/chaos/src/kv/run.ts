import { subjects } from '@synod/protocol';
import { checkLinearizability, kvModel } from '@synod/testkit';
import { ReplicaCluster, runWorkload } from '@synod/cluster-kit';

export interface ChaosOptions {
  durationMs: number;
  /** Told about every fault, for a readable trace. */
  onEvent?: (line: string) => void;
  /** The consensus engine of the replicas (a name of libs/engines; default its first). */
  engine?: string;
}

export interface ChaosReport {
  ok: boolean;
  failure?: string;
  ops: number;
  okOps: number;
  acked: number;
  faults: Record<'kill' | 'pause' | 'cut', number>;
  explored: number;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const between = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Three replicas, each behind its own TCP proxy to NATS; clients run a put/get/compare-and-set
 * workload while one replica at a time is killed (SIGKILL, then restarted), paused (SIGSTOP, then
 * SIGCONT) or cut off the bus (its proxy cut, then healed). At the end everything is healed, the
 * history goes through the linearizability checker, and every acknowledged write is read back.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const say = o.onEvent ?? (() => undefined);
  // Snapshots and history compaction both often, so that catching up, restarting and compacting
  // all happen under the faults.
  const c = await ReplicaCluster.start(3, { SNAPSHOT_EVERY: '200', SNAPSHOT_TRAILING_ENTRIES: '50', RETAIN_REVISIONS: '500' }, { proxied: true, ...(o.engine === undefined ? {} : { engine: o.engine }) });
  const faults = { kill: 0, pause: 0, cut: 0 };
  try {
    await c.leader();
    const load = runWorkload(c, 4, 4, 3000);
    const end = Date.now() + o.durationMs;
    while (Date.now() < end) {
      await sleep(between(200, 800));
      const victim = pick(c.ids);
      const kind = pick(['kill', 'pause', 'cut'] as const);
      const downMs = between(200, 1500);
      faults[kind]++;
      say(`${kind} ${victim} for ${downMs} ms`);
      if (kind === 'kill') {
        await c.app(victim).kill();
        await sleep(downMs);
        await c.startReplica(victim);
      } else if (kind === 'pause') {
        c.app(victim).signal('SIGSTOP');
        await sleep(downMs);
        c.app(victim).signal('SIGCONT');
      } else {
        c.proxies.get(victim)!.cut();
        await sleep(downMs);
        c.proxies.get(victim)!.heal();
      }
    }
    say('healing and checking');
    await c.leader(20_000);
    await load.stop();
    const verdict = checkLinearizability(kvModel, load.history, { maxStates: 20_000_000 });
    const okOps = load.history.filter((h) => h.output !== undefined).length;
    const base = { ops: load.history.length, okOps, acked: load.acked.length, faults, explored: verdict.explored };
    if (verdict.outcome === 'violation') return { ok: false, failure: `not linearizable:\n${verdict.message}`, ...base };
    if (verdict.outcome === 'budget-exceeded') return { ok: false, failure: `checker budget exceeded after ${verdict.explored} states: no verdict`, ...base };
    const stored = (await c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'acked/', prefix: true, keysOnly: true } }, 20_000)) as { kvs: { key: string }[] };
    const have = new Set(stored.kvs.map((k) => k.key));
    const lost = load.acked.filter((a) => a.key.startsWith('acked/') && !have.has(a.key));
    if (lost.length > 0) return { ok: false, failure: `${lost.length} acknowledged writes lost, e.g. ${lost.slice(0, 5).map((l) => l.key).join(', ')}`, ...base };
    return { ok: true, ...base };
  } finally {
    await c.stop();
  }
}
