import { describe, expect, it } from 'vitest';
import { DEFAULT_FAULTS, simulate } from '@synod/testkit';
import { PaxosNode, paxosSimEngine, ZERO_BALLOT, type Ballot, type PaxosDurableState, type PaxosOptions } from '../src/index.js';

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

function failuresOf(make: (o: PaxosOptions, d?: PaxosDurableState) => PaxosNode, seeds: number, faults = DEFAULT_FAULTS, stopAtFirst = true): string[] {
  const failures: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = simulate(paxosSimEngine({}, make), { seed, ops: 500, faults });
    if (!r.ok) {
      failures.push(`seed ${seed}: ${r.failure}`);
      if (stopAtFirst) break;
    }
  }
  return failures;
}

describe('the simulator can fail', () => {
  it('catches an acceptor that forgets its promise when it restarts (crash-heavy faults, 40 seeds)', () => {
    // Crashes every 400 virtual ms on average: restarts between a promise and the next accept.
    const failures = failuresOf((o, d) => new ForgetsItsPromise(o, d), 40, { ...DEFAULT_FAULTS, crashEveryMs: 400, tornPersist: 0.1 });
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatch(VIOLATION);
  });

  it('crash-heavy seeds pass with the promise kept', () => {
    const failures = failuresOf((o, d) => new PaxosNode(o, d), 20, { ...DEFAULT_FAULTS, crashEveryMs: 400, tornPersist: 0.1 });
    expect(failures).toEqual([]);
  });

  it('catches a proposer that ignores the values acceptors report in phase 1, within 10 seeds', () => {
    const failures = failuresOf((o, d) => new IgnoresReportedValues(o, d), 10);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatch(VIOLATION);
  });

  it('replays a failing seed exactly', () => {
    const run = (seed: number) => simulate(paxosSimEngine({}, (o, d) => new IgnoresReportedValues(o, d)), { seed, ops: 500 });
    let seed = 1;
    while (seed < 10 && run(seed).ok) seed++;
    const a = run(seed);
    const b = run(seed);
    expect(a.ok).toBe(false);
    expect(b.failure).toBe(a.failure);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  });
});
