import { describe, expect, it } from 'vitest';
import { PROFILES, simulate, type ProfileName, type SimOptions } from '@synod/testkit';
import { PaxosNode, paxosEngine, paxosSimEngine, ZERO_BALLOT, type Ballot, type PaxosDurableState, type PaxosOptions } from '../src/index.js';

/** Test-only variants, each breaking one rule of Paxos. The simulator must notice every one. */
class ForgetsItsPromise extends PaxosNode {
  protected override restoredPromise(): Ballot {
    return ZERO_BALLOT;
  }
}
class IgnoresReportedValues extends PaxosNode {
  protected override adopts(): boolean {
    return false;
  }
}

const VIOLATION = /election safety|at most one value|learned value differs|state machine safety|not linearizable|is chosen; a different value/;

const DEFAULT_FAULTS = PROFILES.mixed;

async function failuresOf(make: (o: PaxosOptions, d?: PaxosDurableState) => PaxosNode, seeds: number, faults = DEFAULT_FAULTS, stopAtFirst = true): Promise<string[]> {
  const failures: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await simulate({ ...paxosEngine, sim: paxosSimEngine({}, make) }, { seed, ops: 500, faults });
    if (!r.ok) {
      failures.push(`seed ${seed}: ${r.failure}`);
      if (stopAtFirst) break;
    }
  }
  return failures;
}

describe('the simulator can fail', () => {
  it('catches an acceptor that forgets its promise when it restarts (crash-heavy faults, 40 seeds)', async () => {
    // Crashes every 400 virtual ms on average: restarts between a promise and the next accept.
    const failures = await failuresOf((o, d) => new ForgetsItsPromise(o, d), 40, { ...DEFAULT_FAULTS, crashEveryMs: 400, tornPersist: 0.1 });
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatch(VIOLATION);
  }, 300_000);

  it('crash-heavy seeds pass with the promise kept', async () => {
    const failures = await failuresOf((o, d) => new PaxosNode(o, d), 20, { ...DEFAULT_FAULTS, crashEveryMs: 400, tornPersist: 0.1 });
    expect(failures).toEqual([]);
  }, 300_000);

  it('catches a proposer that ignores the values acceptors report in phase 1, within 10 seeds', async () => {
    const failures = await failuresOf((o, d) => new IgnoresReportedValues(o, d), 10);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatch(VIOLATION);
  }, 300_000);

  it('replays a failing seed exactly', async () => {
    const run = (seed: number) => simulate({ ...paxosEngine, sim: paxosSimEngine({}, (o, d) => new IgnoresReportedValues(o, d)) }, { seed, ops: 500 });
    let seed = 1;
    while (seed < 10 && (await run(seed)).ok) seed++;
    const a = await run(seed);
    const b = await run(seed);
    expect(a.ok).toBe(false);
    expect(b.failure).toBe(a.failure);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  }, 300_000);
});

/** The seeds until the simulator catches the production driver (libs/engine-host) breaking `rule` on Multi-Paxos; the first failure. */
async function driverFailure(rule: NonNullable<SimOptions['brokenRule']>, seeds: number, profile: ProfileName): Promise<string | undefined> {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await simulate(paxosEngine, { seed, ops: 500, brokenRule: rule, faults: PROFILES[profile] });
    if (!r.ok) return `seed ${seed}: ${r.failure}`;
  }
  return undefined;
}

describe('the driver, broken, is caught by the simulator', () => {
  it('a host that acknowledges an accept before persisting it fails within 10 crash-heavy seeds', async () => {
    // A follower's acknowledged copy is lost only if it crashes before the write reaches its disk.
    expect(await driverFailure('ack-before-persist', 10, 'crash-heavy')).toMatch(VIOLATION);
  }, 300_000);

  it('a host that applies values past the chosen prefix fails within 5 seeds', async () => {
    expect(await driverFailure('apply-past-commit', 5, 'mixed')).toMatch(VIOLATION);
  }, 300_000);

  it('a re-elected leader that keeps the lease deadlines of its previous term fails within 5 seeds', async () => {
    // It expires a lease another leader extended meanwhile, before the TTL that leader promised.
    expect(await driverFailure('lease-stale-deadlines', 5, 'mixed')).toMatch(/lease safety/);
  }, 300_000);
});
