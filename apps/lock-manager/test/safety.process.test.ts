import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockClient } from '@synod/locks';
import { FencedResource, LockCluster, fencedViolations, runFencedWorkers, sleep } from '@synod/cluster-kit';

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
    const workers = runFencedWorkers({ resource, newClient, clients: 12, ttlMs: 2000, timeoutMs: 6000 });
    const { grants, errors } = workers;

    // (i) A holder that pauses: no keep-alives, its commit comes well after its TTL.
    await sleep(1500);
    const pauser = newClient();
    const paused = await pauser.acquire('counter', { ttlMs: 800, timeoutMs: 10_000 });
    expect(resource.begin(paused.token)).toBe(true);
    paused.stopKeepAlive();
    // Its TTL as granted (the store raises one below its minimum lease TTL).
    await sleep(paused.ttlMs + 1500);
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
    await workers.stop();
    void paused.release();

    // The paused holder lost the lock to a higher token: its late commit was rejected.
    expect(committedSincePause).toBeGreaterThan(0);
    expect(pausedCommit).toBe(false);
    expect(resource.rejectedCommits).toContain(paused.token);
    // Progress after each fault.
    expect(afterManagerKill).toBeGreaterThan(killedManagerAt);
    expect(resource.accepted.some((a) => a.begin > leaderKilledAt + 200)).toBe(true);
    // The counter equals the accepted commits; accepted sections never overlap; tokens only grow;
    // every token handed out is distinct; no stale token presented ever got a commit in.
    expect(fencedViolations(resource, grants)).toEqual([]);
    console.log(
      `safety: ${resource.accepted.length} commits, ${grants.length} grants, ${resource.rejectedBegins.length} stale begins and ${resource.rejectedCommits.length} stale commits rejected, ${errors.length} client errors`,
      errors.slice(0, 5),
    );
    expect(resource.accepted.length).toBeGreaterThan(30);
  });
});
