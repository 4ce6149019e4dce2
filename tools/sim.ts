// `npm run sim -- --engine raft|paxos (an engine of libs/engines) --seeds N [--profile P|all] [--seed S] [--nodes 3|5] [--ops N] [--no-faults] [--verbose]`
//
// Runs the seeded simulator on the production driver (libs/engine-host): seeds 1..N, or replays
// one seed exactly. `--profile` picks the faults (mixed, crash-heavy, partition-heavy, slow-disk,
// pause-heavy); `all` (the default) gives seed S the profile S mod 5 in that list. A failure
// prints the seed, what failed and the last events, then exits 1.
import { parseArgs } from 'node:util';
import { NO_FAULTS, PROFILE_NAMES, PROFILES, simulate, type ProfileName } from '@synod/testkit';
import { DEFAULT_ENGINE, ENGINES } from '@synod/engines';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: DEFAULT_ENGINE },
    seeds: { type: 'string', default: '100' },
    seed: { type: 'string' },
    profile: { type: 'string', default: 'all' },
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

const engine = ENGINES.get(values.engine);
if (!engine) {
  console.error(`unknown --engine ${values.engine}; known: ${[...ENGINES.keys()].join(', ')}`);
  process.exit(2);
}
const profileArg = values.profile;
if (profileArg !== 'all' && !PROFILE_NAMES.includes(profileArg as ProfileName)) {
  console.error(`unknown --profile ${profileArg}; known: ${PROFILE_NAMES.join(', ')}, all`);
  process.exit(2);
}
const profileOf = (seed: number): ProfileName => (profileArg === 'all' ? PROFILE_NAMES[seed % PROFILE_NAMES.length]! : (profileArg as ProfileName));

const single = int('seed', values.seed);
const seeds = single !== undefined ? [single] : Array.from({ length: int('seeds', values.seeds)! }, (_, i) => i + 1);
const ops = int('ops', values.ops)!;
const started = Date.now();
let failed = 0;
for (const seed of seeds) {
  const nodes = int('nodes', values.nodes) ?? (seed % 3 === 0 ? 5 : 3);
  const profile = profileOf(seed);
  const r = await simulate(engine, { seed, nodes, ops, faults: values['no-faults'] ? NO_FAULTS : PROFILES[profile] });
  if (values.verbose || !r.ok) console.log(`seed ${seed} (${nodes} nodes, ${profile}): ${r.ok ? 'ok' : 'FAILED'} ${JSON.stringify(r.stats)}`);
  if (!r.ok) {
    failed++;
    console.log(
      `\n${r.failure}\n\nlast events:\n${r.trace.join('\n')}\n\nreplay: npm run sim -- --engine ${values.engine} --profile ${profile} --seed ${seed} --nodes ${nodes} --ops ${ops}${values['no-faults'] ? ' --no-faults' : ''}\n`,
    );
  }
}
console.log(`${values.engine}: ${seeds.length - failed} of ${seeds.length} seeds passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed > 0 ? 1 : 0);
