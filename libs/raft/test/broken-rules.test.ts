import { describe, expect, it } from 'vitest';
import { PROFILES, simulate, type ProfileName, type SimOptions } from '@synod/testkit';
import { RaftNode, raftEngine, raftSimEngine } from '../src/index.js';
import { Cluster, figure8 } from './harness.js';

/** Test-only variants, each breaking one rule. The suite must notice every one of them. */
class NoElectionRestriction extends RaftNode {
  protected override candidateUpToDate(): boolean {
    return true;
  }
}
class CommitsOldTermsByCounting extends RaftNode {
  protected override canCommitAt(): boolean {
    return true;
  }
}
class EternalLease extends RaftNode {
  protected override leaseValid(): boolean {
    return true;
  }
}

describe('the simulator can fail', () => {
  it('catches a node that votes without the §5.4.1 up-to-date check within 10 seeds', async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= 10 && failures.length === 0; seed++) {
      const r = await simulate({ ...raftEngine, sim: raftSimEngine({}, (o, d) => new NoElectionRestriction(o, d)) }, { seed, ops: 500 });
      if (!r.ok) failures.push(`seed ${seed}: ${r.failure}`);
    }
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/leader completeness|state machine safety|log matching|not linearizable|conflict at committed index/);
  }, 120_000);

  it('replays a failing seed exactly', async () => {
    const run = (seed: number) => simulate({ ...raftEngine, sim: raftSimEngine({}, (o, d) => new NoElectionRestriction(o, d)) }, { seed, ops: 500 });
    let seed = 1;
    while (seed < 10 && (await run(seed)).ok) seed++;
    const a = await run(seed);
    const b = await run(seed);
    expect(a.ok).toBe(false);
    expect(b.failure).toBe(a.failure);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  }, 120_000);
});

/** The seeds until the simulator catches the production driver (libs/engine-host) breaking `rule` on Raft; the first failure. */
async function driverFailure(rule: NonNullable<SimOptions['brokenRule']>, seeds: number, profile: ProfileName): Promise<string | undefined> {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await simulate(raftEngine, { seed, ops: 500, brokenRule: rule, faults: PROFILES[profile] });
    if (!r.ok) return `seed ${seed}: ${r.failure}`;
  }
  return undefined;
}

describe('the driver, broken, is caught by the simulator', () => {
  it('a host that acknowledges a follower\'s append before persisting it fails within 10 crash-heavy seeds', async () => {
    // A follower's acknowledged copy is lost only if it crashes before the write reaches its disk.
    expect(await driverFailure('ack-before-persist', 10, 'crash-heavy')).toMatch(/leader completeness|state machine safety|log matching|not linearizable|conflict at committed index|election safety/);
  }, 120_000);

  it('a host that applies entries past the commit index fails within 5 seeds', async () => {
    expect(await driverFailure('apply-past-commit', 5, 'mixed')).toMatch(/state machine safety|not linearizable/);
  }, 120_000);

  it('a re-elected leader that keeps the lease deadlines of its previous term fails within 5 seeds', async () => {
    // It expires a lease another leader extended meanwhile, before the TTL that leader promised.
    expect(await driverFailure('lease-stale-deadlines', 5, 'mixed')).toMatch(/lease safety/);
  }, 120_000);
});

describe('the Figure 8 rule, broken, is caught by the paper test', () => {
  it('the correct rule leaves the old entry uncommitted; counting replicas commits it', () => {
    expect(figure8((o, d) => new RaftNode(o, d)).get('a').log.committed).toBeLessThan(2);
    expect(figure8((o, d) => new CommitsOldTermsByCounting(o, d)).get('a').log.committed).toBeGreaterThanOrEqual(2);
  });
});

describe('the lease, broken, is caught', () => {
  it('a leader cut off from its quorum stops serving lease reads; an eternal lease would not', () => {
    for (const [make, expected] of [
      [(o: ConstructorParameters<typeof RaftNode>[0], d?: ConstructorParameters<typeof RaftNode>[1]) => new RaftNode(o, d), 0],
      [(o: ConstructorParameters<typeof RaftNode>[0], d?: ConstructorParameters<typeof RaftNode>[1]) => new EternalLease(o, d), 1],
    ] as const) {
      const c = new Cluster(['a', 'b', 'c'], {}, make);
      c.elect('a');
      c.tickAll(2);
      c.isolate('a');
      c.tick('a', 9);
      c.get('a').readIndex('late', { mode: 'lease' });
      c.settle();
      expect(c.state('a').reads.filter((r) => r.ctx === 'late')).toHaveLength(expected);
    }
  });
});
