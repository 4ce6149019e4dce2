import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockClient } from '@synod/locks';
import { FencedResource, LockCluster, sleep } from './cluster.js';

/**
 * Safety under faults: clients take one mutex and do begin/commit on a fenced counter while a holder
 * pauses past its TTL, a lock-manager instance is SIGKILLed, and then the store's leader is.
 */
describe('mutex safety through a pause, a lock-manager SIGKILL and a store-leader SIGKILL', () => {
  let c: LockCluster;
  beforeAll(async () => {
    c = await LockCluster.start(2);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('no two committed sections interleave, stale tokens are rejected, tokens only grow', async () => {
    const resource = new FencedResource();
    const newClient = () => new LockClient({ nc: c.nc, namespace: c.namespace, attemptTimeoutMs: 800, pollMs: 500, timeoutMs: 8000 });
    let running = true;
    const grants: number[] = [];
    const errors: string[] = [];
    const CLIENTS = 12;

    const worker = async (i: number) => {
      const client = newClient();
      while (running) {
        try {
          await client.withLock(
            'counter',
            async ({ token }) => {
              grants.push(token);
              if (!resource.begin(token)) return;
              await sleep(Math.random() * 4);
              resource.commit(token);
            },
            { ttlMs: 2000, timeoutMs: 6000 },
          );
        } catch (err) {
          errors.push(`${i}: ${(err as Error).name} ${(err as Error).message}`);
          await sleep(50);
        }
      }
    };
    const workers = Array.from({ length: CLIENTS }, (_, i) => worker(i));

    // (i) A holder that pauses: no keep-alives, its commit comes well after its TTL.
    await sleep(1500);
    const pauser = newClient();
    const paused = await pauser.acquire('counter', { ttlMs: 800, timeoutMs: 10_000 });
    expect(resource.begin(paused.token)).toBe(true);
    paused.stopKeepAlive();
    await sleep(800 + 1500);
    const pausedCommit = resource.commit(paused.token);
    const committedSincePause = resource.accepted.filter((a) => a.token > paused.token).length;

    // (ii) SIGKILL one lock-manager instance: its waiters retry on the other.
    const killedManagerAt = resource.counter;
    await c.managers[0]!.kill();
    await sleep(2500);
    const afterManagerKill = resource.counter;

    // (iii) SIGKILL the store's leader.
    const leader = await c.leader();
    await c.replicas.get(leader)!.kill();
    const leaderKilledAt = performance.now();
    await sleep(4000);
    running = false;
    await Promise.all(workers);
    void paused.release();

    // The paused holder lost the lock to a higher token: its late commit was rejected.
    expect(committedSincePause).toBeGreaterThan(0);
    expect(pausedCommit).toBe(false);
    expect(resource.rejectedCommits).toContain(paused.token);
    // Progress after each fault.
    expect(afterManagerKill).toBeGreaterThan(killedManagerAt);
    expect(resource.accepted.some((a) => a.begin > leaderKilledAt + 200)).toBe(true);
    // The counter equals the accepted commits; accepted sections never overlap; tokens only grow.
    expect(resource.counter).toBe(resource.accepted.length);
    const byBegin = [...resource.accepted].sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < byBegin.length; i++) {
      expect(byBegin[i]!.begin).toBeGreaterThanOrEqual(byBegin[i - 1]!.end);
      expect(byBegin[i]!.token).toBeGreaterThan(byBegin[i - 1]!.token);
    }
    for (let i = 1; i < resource.acceptedBegins.length; i++) expect(resource.acceptedBegins[i]!).toBeGreaterThan(resource.acceptedBegins[i - 1]!);
    // Every token handed out is distinct (the holder key's createRevision).
    expect(new Set(grants).size).toBe(grants.length);
    // Every stale token presented was refused (none of them got a commit in).
    const acceptedTokens = new Set(resource.accepted.map((a) => a.token));
    for (const t of [...resource.rejectedBegins, ...resource.rejectedCommits]) expect(acceptedTokens.has(t)).toBe(false);
    console.log(
      `safety: ${resource.accepted.length} commits, ${grants.length} grants, ${resource.rejectedBegins.length} stale begins and ${resource.rejectedCommits.length} stale commits rejected, ${errors.length} client errors`,
      errors.slice(0, 5),
    );
    expect(resource.accepted.length).toBeGreaterThan(30);
  });
});
