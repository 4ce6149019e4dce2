import { describe, expect, it } from 'vitest';
import { simulate } from '@synod/testkit';
import { raftSimEngine } from '../src/index.js';

/** Seeds 101..200 of the 300 the suite runs (split across files so they run in parallel). */
const seeds = Array.from({ length: 100 }, (_, i) => i + 101);
const totals = { crashes: 0, partitions: 0, pauses: 0, snapshots: 0, elections: 0, unknownOps: 0 };

describe('Raft under the seeded simulator: faults, invariants at every step, linearizable histories', () => {
  it.each(seeds)('seed %i', (seed) => {
    const nodes = seed % 3 === 0 ? 5 : 3;
    const r = simulate(raftSimEngine(), { seed, nodes, ops: 500 });
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
    if (!r.ok) {
      expect.fail(`seed ${seed} (${nodes} nodes) failed: ${r.failure}\n\nlast events:\n${r.trace.join('\n')}\n\nreplay: npm run sim -- --engine raft --seed ${seed} --nodes ${nodes}`);
    }
    expect(r.stats.ops).toBeGreaterThanOrEqual(500);
  });

  it('really injected faults across these seeds', () => {
    expect(totals.crashes).toBeGreaterThan(100);
    expect(totals.partitions).toBeGreaterThan(100);
    expect(totals.pauses).toBeGreaterThan(50);
    expect(totals.snapshots).toBeGreaterThan(100);
    expect(totals.elections).toBeGreaterThan(300);
    expect(totals.unknownOps).toBeGreaterThan(0);
  });
});
