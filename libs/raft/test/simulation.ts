import { describe, expect, it } from 'vitest';
import { PROFILE_NAMES, PROFILES, simulate } from '@synod/testkit';
import { raftEngine } from '../src/index.js';

/**
 * Declares the simulator suite for seeds [from, to] on the production driver: seed S runs the fault
 * profile PROFILE_NAMES[S mod 5] (mixed, crash-heavy, partition-heavy, slow-disk, pause-heavy),
 * every third seed five nodes. The 240 seeds `npm test` runs (48 per profile, a count sized to
 * the simulator suites' CI budget; `npm run sim` runs any number) are split across files so vitest
 * runs them in parallel.
 */
export function simulationSuite(from: number, to: number): void {
  const seeds = Array.from({ length: to - from + 1 }, (_, i) => i + from);
  const totals = { crashes: 0, partitions: 0, pauses: 0, snapshots: 0, elections: 0, unknownOps: 0, keepAlives: 0, leaseExpiries: 0 };

  describe(`Raft under the seeded simulator, seeds ${from}-${to}: faults, invariants at every step, linearizable histories`, () => {
    it.each(seeds)('seed %i', async (seed) => {
      const nodes = seed % 3 === 0 ? 5 : 3;
      const profile = PROFILE_NAMES[seed % PROFILE_NAMES.length]!;
      const r = await simulate(raftEngine, { seed, nodes, ops: 500, faults: PROFILES[profile] });
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
      if (!r.ok) {
        expect.fail(`seed ${seed} (${nodes} nodes, ${profile}) failed: ${r.failure}\n\nlast events:\n${r.trace.join('\n')}\n\nreplay: npm run sim -- --engine raft --profile ${profile} --seed ${seed} --nodes ${nodes}`);
      }
      expect(r.stats.ops).toBeGreaterThanOrEqual(500);
    }, 120_000);

    it('really injected faults across these seeds', () => {
      const n = seeds.length;
      expect(totals.crashes).toBeGreaterThan(n);
      expect(totals.partitions).toBeGreaterThan(n);
      expect(totals.pauses).toBeGreaterThan(n / 2);
      expect(totals.snapshots).toBeGreaterThan(n);
      expect(totals.elections).toBeGreaterThan(3 * n);
      expect(totals.unknownOps).toBeGreaterThan(0);
      // The lease check saw leases kept alive through these faults, and expired.
      expect(totals.keepAlives).toBeGreaterThan(20 * n);
      expect(totals.leaseExpiries).toBeGreaterThan(n);
    });
  });
}
