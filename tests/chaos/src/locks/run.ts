import { LockClient } from '@synod/locks';
import { FencedResource, fencedViolations, HolderProcess, LockCluster, runFencedWorkers, serveFencedResource } from '@synod/cluster-kit';

export type FaultKind = 'kill-manager' | 'kill-replica' | 'kill-leader' | 'pause-replica' | 'pause-holder';
export const FAULT_KINDS: readonly FaultKind[] = ['kill-manager', 'kill-replica', 'kill-leader', 'pause-replica', 'pause-holder'];

export interface LockChaosOptions {
  durationMs: number;
  /** Told about every fault, for a readable trace. */
  onEvent?: (line: string) => void;
}

export interface LockChaosReport {
  ok: boolean;
  failure?: string;
  violations: string[];
  commits: number;
  /** Accepted begins (sections entered), and begins of the holder child among them. */
  begins: number;
  grants: number;
  staleBegins: number;
  staleCommits: number;
  clientErrors: number;
  errorSamples: string[];
  faults: Record<FaultKind, number>;
  /** Holder-process pauses: its commit after SIGCONT, and whether the resource refused it. */
  pauses: { token: number; lateCommit: 'rejected' | 'accepted' | 'none'; committedMeanwhile: number }[];
}

const LOCK = 'counter';
const HOLDER_TTL_MS = 1000;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const between = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The fenced-resource safety workload (test/fenced-workload.ts, as in the safety process test) on
 * a real nats-server, three consensus replicas and two lock-manager instances: in-process lock
 * clients plus a child process of lock clients, all on one mutex guarding one FencedResource, while
 * one fault at a time hits a real process: SIGKILL (then restart) of a lock manager, of a replica or
 * of the store leader, SIGSTOP/SIGCONT of a replica, and SIGSTOP of the holder child while it is
 * inside a section, past its lease TTL, then SIGCONT (its late commit must be refused). Each kind
 * runs at least once, so a run can outlast `durationMs` by one round of faults.
 */
export async function runLockChaos(o: LockChaosOptions): Promise<LockChaosReport> {
  const say = o.onEvent ?? (() => undefined);
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const pauses: LockChaosReport['pauses'] = [];
  const c = await LockCluster.start(2);
  const resource = new FencedResource();
  const subject = `${c.namespace}.chaos.fenced`;
  const served = serveFencedResource(c.nc, subject, resource);
  let holder: HolderProcess | undefined;
  const paused = new Set<string>();
  try {
    holder = new HolderProcess({ NATS_URL: c.nats.url, SYNOD_NAMESPACE: c.namespace, RESOURCE_SUBJECT: subject, LOCK_NAME: LOCK, TTL_MS: String(HOLDER_TTL_MS), CLIENTS: '2' });
    if ((await holder.waitFor(0, (l) => l.ready === true, 20_000)) < 0) throw new Error(`the holder process did not start:\n${holder.stderr.slice(-20).join('\n')}`);
    const newClient = () => new LockClient({ nc: c.nc, namespace: c.namespace, attemptTimeoutMs: 800, pollMs: 500, timeoutMs: 8000 });
    const workers = runFencedWorkers({ resource, newClient, clients: 6, lockName: LOCK, ttlMs: 2000, timeoutMs: 6000 });

    const todo = new Set(FAULT_KINDS);
    const end = Date.now() + o.durationMs;
    while (Date.now() < end || todo.size > 0) {
      await sleep(between(200, 600));
      const kind = todo.size > 0 ? pick([...todo]) : pick(FAULT_KINDS);
      todo.delete(kind);
      faults[kind]++;
      const downMs = between(200, 1000);
      if (kind === 'kill-manager') {
        const live = c.managers.filter((m) => m.running);
        const victim = pick(live);
        say(`SIGKILL lock manager ${victim.name} (restart after ${downMs} ms)`);
        await victim.kill();
        await sleep(downMs);
        await c.startManager();
      } else if (kind === 'kill-replica' || kind === 'kill-leader') {
        const id = kind === 'kill-leader' ? await c.leader(5000).catch(() => pick(c.ids)) : pick(c.ids);
        say(`SIGKILL replica ${id}${kind === 'kill-leader' ? ' (the leader)' : ''} (restart after ${downMs} ms)`);
        await c.replicas.get(id)!.kill();
        await sleep(downMs);
        await c.startReplica(id);
      } else if (kind === 'pause-replica') {
        const id = pick(c.ids);
        say(`SIGSTOP replica ${id} for ${downMs} ms`);
        paused.add(id);
        c.replicas.get(id)!.signal('SIGSTOP');
        await sleep(downMs);
        c.replicas.get(id)!.signal('SIGCONT');
        paused.delete(id);
      } else {
        // Stop the holder child right after one of its sections began, for its TTL and more.
        const i = await holder.waitFor(holder.lines.length, (l) => l.began !== undefined && l.ok === true, 10_000);
        if (i < 0) {
          say('pause-holder: the holder process began no section within 10 s; skipped');
          continue;
        }
        holder.signal('SIGSTOP');
        const token = holder.lines[i]!.began!;
        const before = resource.counter;
        const pauseMs = HOLDER_TTL_MS + 1500;
        say(`SIGSTOP holder process inside its section with token ${token} for ${pauseMs} ms (TTL ${HOLDER_TTL_MS} ms)`);
        await sleep(pauseMs);
        const committedMeanwhile = resource.counter - before;
        holder.signal('SIGCONT');
        const j = await holder.waitFor(i, (l) => l.committed === token, 5000);
        const lateCommit = j < 0 ? 'none' : holder.lines[j]!.ok ? 'accepted' : 'rejected';
        say(`SIGCONT holder process: its late commit of token ${token} was ${lateCommit} (${committedMeanwhile} commits by others meanwhile)`);
        pauses.push({ token, lateCommit, committedMeanwhile });
      }
    }

    say('faults over; checking');
    await c.leader(20_000);
    await sleep(500);
    await workers.stop();
    await holder.stop();
    const violations = fencedViolations(resource, workers.grants);
    for (const p of pauses) {
      if (p.lateCommit === 'accepted' && p.committedMeanwhile > 0) violations.push(`the paused holder's commit of token ${p.token} was accepted after ${p.committedMeanwhile} commits by later holders`);
    }
    const report: LockChaosReport = {
      ok: violations.length === 0,
      violations,
      commits: resource.accepted.length,
      begins: resource.acceptedBegins.length,
      grants: workers.grants.length,
      staleBegins: resource.rejectedBegins.length,
      staleCommits: resource.rejectedCommits.length,
      clientErrors: workers.errors.length,
      errorSamples: workers.errors.slice(0, 5),
      faults,
      pauses,
    };
    if (violations.length > 0) report.failure = violations.join('\n');
    else if (resource.accepted.length === 0) {
      report.ok = false;
      report.failure = 'no commit at all: the workload made no progress';
    }
    return report;
  } finally {
    for (const id of paused) c.replicas.get(id)?.signal('SIGCONT');
    await holder?.stop();
    served.stop();
    await c.stop();
  }
}
