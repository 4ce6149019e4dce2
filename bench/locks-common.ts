// Pieces shared by the three sides of `bench/locks.ts`: what each lock system implements, and the
// three workloads run the same way against each.
import * as hdr from 'hdr-histogram-js';
import { closedLoop, cpuSeconds, type LoadResult } from './lib.js';

/** A granted lock. */
export interface Held {
  /** Releases the lock (and whatever session it rode on); rejects if it was not held any more. */
  release(): Promise<void>;
}

/** What bench/locks.ts needs from each lock system. */
export interface LockTarget {
  readonly name: string;
  /** Waits for the lock (up to a generous timeout) and resolves once it is held. */
  acquire(name: string): Promise<Held>;
  /** The processes serving it, by name (for the CPU accounting). */
  pids(): Map<string, number>;
  stop(): Promise<void>;
}

/** Runs `fn` and returns its result with the CPU seconds each of `pids` (and this process) used meanwhile. */
export async function withCpu<T>(pids: Map<string, number>, fn: () => Promise<T>): Promise<{ result: T; cpu: Map<string, number> }> {
  const before = new Map([...pids].map(([n, pid]) => [n, cpuSeconds(pid)]));
  const self0 = process.cpuUsage();
  const result = await fn();
  const self = process.cpuUsage(self0);
  const cpu = new Map([...pids].map(([n, pid]) => [n, cpuSeconds(pid) - before.get(n)!]));
  cpu.set('bench client', (self.user + self.system) / 1e6);
  return { result, cpu };
}

export const TTL_MS = 10_000;

export function sleep(msec: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msec));
}

/** (1) One client, one name: acquire then release, in a loop. */
export function uncontended(t: LockTarget, seconds: number, label = 'uncontended (1 client, 1 name)'): Promise<LoadResult> {
  const name = `u-${t.name}`;
  return closedLoop(label, 1, seconds, async () => {
    const l = await t.acquire(name);
    await l.release();
  });
}

/** (2) `clients` clients, each op acquire+release of a random name among `names`. */
export function throughput(t: LockTarget, clients: number, names: number, seconds: number, label = `throughput (${clients} clients, ${names} names)`): Promise<LoadResult> {
  return closedLoop(label, clients, seconds, async () => {
    const l = await t.acquire(`t-${Math.floor(Math.random() * names)}`);
    await l.release();
  });
}

/**
 * (3) `waiters` clients contend for one name: each acquires, holds 1 ms, releases, and queues
 * again once another client has been granted the lock (so the lock always passes to one of the
 * others: on a FIFO lock it would anyway, and a polling lock cannot hand it straight back to the
 * client that just released it). Recorded per grant after the first: the time from the previous holder
 * starting its release to this grant being seen by its client (all in this process, one clock).
 * Requests = handoffs.
 */
export async function handoff(t: LockTarget, waiters: number, seconds: number, label = `handoff (${waiters} waiters, 1 name)`): Promise<LoadResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const name = `h-${t.name}-${Math.random().toString(36).slice(2, 8)}`;
  let requests = 0;
  let errors = 0;
  let releasedAt: number | undefined;
  let holders = 0;
  const started = performance.now();
  const endAt = started + seconds * 1000;
  let stopped = false;
  let stoppedAt = 0;
  let grants = 0;
  let onGrant: (() => void)[] = [];
  const nextGrant = (after: number): Promise<void> =>
    grants > after || stopped ? Promise.resolve() : new Promise((resolve) => onGrant.push(resolve));
  // A system that stops granting (a dead cluster) ends the case 10 s after its time is up, with
  // what was counted and the errors, instead of leaving the waiters waiting for a grant forever.
  const giveUp = setTimeout(() => {
    stopped = true;
    stoppedAt ||= performance.now();
    for (const w of onGrant) w();
    onGrant = [];
  }, seconds * 1000 + 10_000);
  const worker = async (): Promise<void> => {
    let mine = -1;
    while (!stopped) {
      await nextGrant(mine);
      if (stopped) break;
      let l: Held;
      try {
        l = await t.acquire(name);
      } catch {
        errors++;
        // Not at once again: a system refusing every request would be polled in a tight loop.
        await sleep(10);
        continue;
      }
      const grantedAt = performance.now();
      mine = ++grants;
      const woken = onGrant;
      onGrant = [];
      holders++;
      if (holders > 1) throw new Error(`${t.name}: ${holders} holders of one mutex at once`);
      if (releasedAt !== undefined) {
        histogram.recordValue(Math.max(1, Math.round((grantedAt - releasedAt) * 1000)));
        requests++;
      }
      if (grantedAt >= endAt && !stopped) {
        stopped = true;
        stoppedAt = grantedAt;
      }
      for (const w of woken) w();
      // Hold 1 ms: the clients woken above send their first attempt while the lock is still
      // held (else a polling lock would hand it to whichever attempt happens to be in flight).
      await sleep(1);
      holders--;
      // Once stopped, no more handoffs are timed: the ones in flight would measure the shutdown.
      releasedAt = stopped ? undefined : performance.now();
      try {
        await l.release();
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: waiters }, worker));
  clearTimeout(giveUp);
  // The rate counts up to the last timed grant, not the drain of the queue after it.
  return { name: label, requests, errors, seconds: ((stoppedAt || performance.now()) - started) / 1000, histogram };
}
