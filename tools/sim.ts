// `npm run sim -- --engine raft|paxos --seeds N [--seed S] [--nodes 3|5] [--ops N] [--no-faults] [--verbose]`
//
// Runs the seeded simulator: seeds 1..N, or replays one seed exactly. A failure prints the seed,
// what failed and the last events, then exits 1.
import { parseArgs } from 'node:util';
import { DEFAULT_FAULTS, NO_FAULTS, simulate, type SimEngine } from '@synod/testkit';
import { paxosSimEngine } from '@synod/paxos';
import { raftSimEngine } from '@synod/raft';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'raft' },
    seeds: { type: 'string', default: '100' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    ops: { type: 'string', default: '500' },
    'no-faults': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const engines: Record<string, () => SimEngine<any, any, any>> = { raft: () => raftSimEngine(), paxos: () => paxosSimEngine() };
const make = engines[values.engine];
if (!make) {
  console.error(`unknown --engine ${values.engine}; known: ${Object.keys(engines).join(', ')}`);
  process.exit(2);
}

const single = int('seed', values.seed);
const seeds = single !== undefined ? [single] : Array.from({ length: int('seeds', values.seeds)! }, (_, i) => i + 1);
const ops = int('ops', values.ops)!;
const started = Date.now();
let failed = 0;
for (const seed of seeds) {
  const nodes = int('nodes', values.nodes) ?? (seed % 3 === 0 ? 5 : 3);
  const r = simulate(make(), { seed, nodes, ops, faults: values['no-faults'] ? NO_FAULTS : DEFAULT_FAULTS });
  if (values.verbose || !r.ok) console.log(`seed ${seed} (${nodes} nodes): ${r.ok ? 'ok' : 'FAILED'} ${JSON.stringify(r.stats)}`);
  if (!r.ok) {
    failed++;
    console.log(`\n${r.failure}\n\nlast events:\n${r.trace.join('\n')}\n\nreplay: npm run sim -- --engine ${values.engine} --seed ${seed} --nodes ${nodes} --ops ${ops}\n`);
  }
}
console.log(`${values.engine}: ${seeds.length - failed} of ${seeds.length} seeds passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed > 0 ? 1 : 0);
