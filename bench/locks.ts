// `npm run bench:locks -- [--quick] [--seconds S] [--no-etcd] [--no-redis] [--redis-poll-ms MS]`
//
// Distributed locks end to end. Synod: three consensus replicas (real processes, production
// timing: TICK_MS 100, ELECTION_TICKS 10) and two lock-manager instances on one nats-server,
// through @synod/locks's LockClient; beside them on the same store, two forwarding lock managers
// (bench/locks-forwarder.ts: the same txns, no lock logic), the floor of a separate lock service.
// Three workloads, each in a closed loop after a warm-up:
//   (1) uncontended acquire+release, 1 client, one name;
//   (2) throughput, 64 clients over 10,000 names, acquire+release per op;
//   (3) handoff, 32 waiters on one name (each holds 1 ms): time from a holder's release to the next grant.
// For context, the store's own 1-client put in the same run, and the lock-API requests one
// acquire+release is made of, timed one by one. Full mode then runs the same workloads against a
// three-member etcd 3.4 cluster (etcd's v3lock Lock/Unlock RPC over gRPC, see locks-etcd.ts) and a
// Redis 7 server (SET NX PX + poll, Lua compare-and-delete, see locks-redis.ts), all
// started together, the rounds alternating between them (3 rounds; each figure is the median
// round's), and prints Synod/etcd and Synod/Redis ratios and the targets. `--quick` (CI) runs
// Synod's side and the forwarder, one brief round, and needs neither etcd nor Redis.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { findNatsBinary, workspaceRoot } from '@synod/testkit';
import { spawnSync } from 'node:child_process';
import type { Histogram } from 'hdr-histogram-js';
import { handoff, throughput, uncontended, withCpu, type LockTarget } from './locks-common.js';
import { EtcdLocks, findEtcd } from './locks-etcd.js';
import { RedisLocks, findRedis } from './locks-redis.js';
import { SynodLocks } from './locks-synod.js';
import { benchArgs, closedLoop, machine, ms, printTable, type LoadResult } from './lib.js';

const cli = benchArgs('locks', {
  seconds: { type: 'number', help: 'seconds per case (10; quick 1)' },
  'redis-poll-ms': { type: 'number', help: "the Redis lock's retry interval in ms (10)" },
  'no-etcd': { type: 'boolean', help: 'skip etcd' },
  'no-redis': { type: 'boolean', help: 'skip Redis' },
});
const quick = cli.flag('quick');
const seconds = cli.number('seconds', quick ? 1 : 10);
const warmupSeconds = quick ? 0.2 : 2;
/**
 * The first case's warm-up is longer: freshly started Node processes (replicas, lock managers, this
 * client) take about 10 s of this light load to reach steady speed (1-s windows of uncontended
 * acquire+release went 10.7 -> 4.4 ms p50, and the store's put 3.0 -> 1.6 ms), while the put it is
 * compared with is measured half a minute into the run. Every system gets the same warm-up.
 */
const firstWarmupSeconds = quick ? 0.2 : 10;
const redisPollMs = cli.number('redis-poll-ms', 10);
const withEtcd = !quick && !cli.flag('no-etcd');
const withRedis = !quick && !cli.flag('no-redis');
const CLIENTS = 64;
const NAMES = 10_000;
const WAITERS = 32;
const STEP_ITERATIONS = quick ? 50 : 500;
/** Rounds of every case on every system, alternating; each figure is the median round's. */
const ROUNDS = quick ? 1 : 3;
/** Target: uncontended acquire+release p50 within this factor of the forwarding lock manager's (the floor of a separate lock service). */
const FLOOR_FACTOR = 1.15;
/** Target: lock throughput at least this factor of etcd's. */
const ETCD_THROUGHPUT_FACTOR = 1.2;

interface Suite {
  name: string;
  uncontended: LoadResult;
  throughput: LoadResult;
  handoff: LoadResult;
  put?: LoadResult;
  put64?: LoadResult;
  /** CPU seconds per process during the throughput case. */
  cpu: Map<string, number>;
}

const startedAt = performance.now();
function progress(line: string): void {
  console.log(`[${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${line}`);
}

const active = new Set<LockTarget>();
process.once('SIGINT', () => {
  console.error('interrupted: stopping every process this bench started');
  void Promise.all([...active].map((t) => t.stop().catch(() => undefined))).finally(() => process.exit(130));
});

function version(cmd: string | undefined, args: string[], re: RegExp): string {
  if (!cmd) return 'unknown';
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(workspaceRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

let putCounter = 0;
/** One round of the three workloads (and the put for context) on one system. */
async function suite(t: LockTarget, warmupFirst: boolean, put?: (key: string, value: string) => Promise<unknown>): Promise<Suite> {
  progress(`${t.name}: uncontended`);
  await uncontended(t, warmupFirst ? firstWarmupSeconds : warmupSeconds, 'warm-up');
  const u = await uncontended(t, seconds);
  progress(`${t.name}: throughput`);
  await throughput(t, CLIENTS, NAMES, warmupSeconds, 'warm-up');
  const { result: tp, cpu } = await withCpu(t.pids(), () => throughput(t, CLIENTS, NAMES, seconds));
  progress(`${t.name}: handoff`);
  const h = await handoff(t, WAITERS, seconds);
  let p: LoadResult | undefined;
  let p64: LoadResult | undefined;
  if (put) {
    progress(`${t.name}: 1-client put`);
    const value = 'v'.repeat(256);
    const send = async () => {
      await put(`p${String(putCounter++ % 10_000).padStart(7, '0')}`, value);
    };
    await closedLoop('warm-up', 1, warmupSeconds, send);
    p = await closedLoop('put (1 client, 256 B)', 1, quick ? seconds / 2 : seconds, send);
    progress(`${t.name}: ${CLIENTS}-client put`);
    p64 = await closedLoop(`put (${CLIENTS} clients, 256 B)`, CLIENTS, quick ? seconds / 2 : seconds, send);
  }
  return { name: t.name, uncontended: u, throughput: tp, handoff: h, cpu, ...(p ? { put: p } : {}), ...(p64 ? { put64: p64 } : {}) };
}

/** One round of the uncontended case through the forwarding lock manager (it serves nothing else). */
async function floorRound(t: LockTarget, warmupFirst: boolean): Promise<LoadResult> {
  progress(`${t.name}: uncontended`);
  await uncontended(t, warmupFirst ? firstWarmupSeconds : warmupSeconds, 'warm-up');
  return uncontended(t, seconds);
}

/** The round whose figure (`by`) is the median of the rounds'. */
function median<T>(rounds: T[], by: (r: T) => number): T {
  return [...rounds].sort((a, b) => by(a) - by(b))[Math.floor((rounds.length - 1) / 2)]!;
}

/** Each figure of a system: the median of its rounds (p50 for latencies, req/s for throughput). */
function medianSuite(rounds: Suite[]): Suite {
  const first = rounds[0]!;
  const put = rounds.flatMap((r) => (r.put ? [r.put] : []));
  const put64 = rounds.flatMap((r) => (r.put64 ? [r.put64] : []));
  const tp = median(rounds, (r) => rate(r.throughput));
  return {
    name: first.name,
    uncontended: median(rounds.map((r) => r.uncontended), (r) => p(r, 50)),
    throughput: tp.throughput,
    cpu: tp.cpu,
    // The handoff target is on p99.
    handoff: median(rounds.map((r) => r.handoff), (r) => p(r, 99)),
    ...(put.length > 0 ? { put: median(put, (r) => p(r, 50)) } : {}),
    ...(put64.length > 0 ? { put64: median(put64, (r) => rate(r)) } : {}),
  };
}

const rate = (r: LoadResult) => (r.seconds > 0 ? r.requests / r.seconds : 0);
const p = (r: LoadResult, q: number) => (r.requests > 0 ? r.histogram.getValueAtPercentile(q) : NaN);
const x = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');

const command = cli.command;
console.log(`bench:locks ${quick ? '(quick) ' : ''}on ${machine()}`);
console.log(`date ${new Date().toISOString()}, command: ${command}`);
console.log(
  `nats-server ${version(findNatsBinary(), ['--version'], /v(\d+\.\d+\.\d+)/)}; Synod: 3 consensus replicas (TICK_MS 100, ELECTION_TICKS 10) + 2 lock managers (+ 2 forwarding lock managers), ` +
    `LockClient over 4 NATS connections; lease TTL 10 s on every system; ${seconds} s per case after ${warmupSeconds} s warm-up (${firstWarmupSeconds} s before the first)\n`,
);

const suites: Suite[] = [];
const problems: string[] = [];
let steps: Map<string, Histogram> | undefined;
let floor: LoadResult | undefined;

/** Every system is started first and the rounds alternate between them, so load drift on the host hits each alike. */
progress('synod: starting 3 replicas, 2 lock managers and 2 forwarding lock managers');
const synod = await SynodLocks.start({ tickMs: 100, electionTicks: 10, managers: 2, connections: 4, forwarder: true });
active.add(synod);
let etcd: EtcdLocks | undefined;
let redis: RedisLocks | undefined;
try {
  if (withEtcd) {
    const bin = findEtcd();
    if (!bin) console.log('\netcd: no `etcd` binary on PATH (apt-get install etcd-server): skipped');
    else {
      progress(`etcd ${bin.version}: starting a 3-member cluster`);
      etcd = await EtcdLocks.start(bin.path);
      active.add(etcd);
    }
  }
  if (withRedis) {
    const bin = findRedis();
    if (!bin) console.log('\nredis: no `redis-server` on PATH (apt-get install redis-server): skipped');
    else {
      progress(`redis ${bin.version}: starting one server`);
      redis = await RedisLocks.start(bin.path, 4, redisPollMs);
      active.add(redis);
    }
  }
  const fwd = synod.forwarder();
  const rounds = new Map<string, Suite[]>();
  const floors: LoadResult[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`round ${round} of ${ROUNDS}`);
    const first = round === 1;
    const run: { name: string; go: () => Promise<void> }[] = [
      { name: 'synod', go: async () => void rounds.set('synod', [...(rounds.get('synod') ?? []), await suite(synod, first, (k, v) => synod.put(k, v))]) },
      { name: 'forwarder', go: async () => void floors.push(await floorRound(fwd, first)) },
      ...(etcd ? [{ name: 'etcd', go: async () => void rounds.set('etcd', [...(rounds.get('etcd') ?? []), await suite(etcd!, first, (k, v) => etcd!.put(k, v))]) }] : []),
      ...(redis ? [{ name: 'redis', go: async () => void rounds.set('redis', [...(rounds.get('redis') ?? []), await suite(redis!, first, (k, v) => redis!.put(k, v))]) }] : []),
    ];
    // Each round starts one system later than the one before.
    for (let i = 0; i < run.length; i++) await run[(i + round - 1) % run.length]!.go();
  }
  for (const name of ['synod', 'etcd', 'redis']) {
    const r = rounds.get(name);
    if (r) suites.push(medianSuite(r));
  }
  floor = median(floors, (r) => p(r, 50));
  progress(`synod: ${STEP_ITERATIONS} acquire+release split into lock-API requests`);
  steps = await synod.steps(STEP_ITERATIONS);
  const s = suites[0]!;
  for (const r of [s.uncontended, s.throughput, s.handoff, s.put!, s.put64!, floor]) {
    if (r.requests === 0) problems.push(`synod ${r.name}: no requests`);
    if (r.errors > 0) problems.push(`synod ${r.name}: ${r.errors} errors`);
  }
} finally {
  for (const t of [synod, etcd, redis]) {
    if (!t) continue;
    await t.stop();
    active.delete(t);
  }
}

console.log('');
if (withEtcd || withRedis) {
  const etcdV = version(findEtcd()?.path, ['--version'], /etcd Version: (\S+)/);
  const redisV = version(findRedis()?.path, ['--version'], /v=(\S+)/);
  console.log(
    `etcd ${etcdV}: 3 members on loopback, v3lock Lock/Unlock RPC over @grpc/grpc-js ${packageVersion('@grpc/grpc-js')}, one session lease per client (as etcd's concurrency.Session), round-robin over the members`,
  );
  console.log(`redis ${redisV}: 1 server, no persistence, ioredis ${packageVersion('ioredis')} over 4 connections, SET NX PX + poll every ${redisPollMs} ms (jittered 0.5-1.5x), Lua compare-and-delete\n`);
}

const sections: { title: string; pick: (s: Suite) => LoadResult | undefined }[] = [
  { title: '(1) uncontended acquire+release, 1 client, 1 name', pick: (s) => s.uncontended },
  { title: `(2) throughput, ${CLIENTS} clients over ${NAMES} names, acquire+release per op`, pick: (s) => s.throughput },
  { title: `(3) handoff, ${WAITERS} waiters on 1 name, each holding 1 ms (release start -> next grant; req/s = handoffs/s)`, pick: (s) => s.handoff },
  { title: 'context: plain 1-client put of a 256-byte value (Synod: through the store; etcd: KV Put; Redis: SET)', pick: (s) => s.put },
  { title: `context: the same put with ${CLIENTS} clients`, pick: (s) => s.put64 },
];
for (const [i, sec] of sections.entries()) {
  console.log(sec.title);
  const rows = suites.flatMap((s) => {
    const r = sec.pick(s);
    return r ? [{ ...r, name: s.name }] : [];
  });
  // The floor of a separate lock service beside the uncontended case.
  if (i === 0 && floor) rows.splice(1, 0, { ...floor, name: 'synod, forwarding lock manager (no lock logic)' });
  printTable(rows);
  console.log('');
}

console.log(`CPU during the throughput case (${seconds} s on ${cpus().length} cores): seconds of CPU per process, and per 1000 lock ops`);
for (const s of suites) {
  const ops = s.throughput.requests / 1000;
  const total = [...s.cpu.values()].reduce((a, b) => a + b, 0);
  console.log(
    `  ${s.name}: ${[...s.cpu].map(([n, c]) => `${n} ${c.toFixed(1)}`).join(', ')}; total ${total.toFixed(1)} s = ${(total / ops).toFixed(2)} CPU s per 1000 ops`,
  );
}
console.log('');

const sy = suites[0]!;
if (steps) {
  console.log(`where an uncontended Synod acquire+release goes: its lock-API requests, one at a time, no retries (n=${STEP_ITERATIONS})`);
  let sum = 0;
  const rows: string[][] = [];
  for (const [label, h] of steps) {
    // A session is granted once and revoked once for many locks: not part of each acquire+release.
    if (!label.includes('once per session')) sum += h.getValueAtPercentile(50);
    rows.push([label, ms(h.getValueAtPercentile(50)), ms(h.getValueAtPercentile(99))]);
  }
  rows.push(['sum of p50s per acquire+release', ms(sum), '']);
  rows.push([`store put p50 (x${(sum / p(sy.put!, 50)).toFixed(1)} in the sum)`, ms(p(sy.put!, 50)), ms(p(sy.put!, 99))]);
  const widths = [0, 1, 2].map((i) => Math.max(['request', 'p50 ms', 'p99 ms'][i]!.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (c: string[]) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(fmt(['request', 'p50 ms', 'p99 ms']));
  for (const r of rows) console.log(fmt(r));
  console.log('');
}

for (const other of suites.slice(1)) {
  console.log(
    `ratio synod/${other.name}: uncontended p50 ${x(p(sy.uncontended, 50), p(other.uncontended, 50))}, p99 ${x(p(sy.uncontended, 99), p(other.uncontended, 99))}; ` +
      `throughput ${x(rate(sy.throughput), rate(other.throughput))} (p50 ${x(p(sy.throughput, 50), p(other.throughput, 50))}, p99 ${x(p(sy.throughput, 99), p(other.throughput, 99))}); ` +
      `handoff p50 ${x(p(sy.handoff, 50), p(other.handoff, 50))}, p99 ${x(p(sy.handoff, 99), p(other.handoff, 99))}`,
  );
}
if (suites.length > 1) console.log('');

console.log(`targets (medians of ${ROUNDS} alternating round${ROUNDS === 1 ? '' : 's'}):`);
const u50 = p(sy.uncontended, 50);
const f50 = floor ? p(floor, 50) : NaN;
console.log(
  `  uncontended p50 within ${FLOOR_FACTOR}x the forwarding lock manager's: ${ms(u50)} ms vs ${ms(f50)} ms = ${x(u50, f50)} -> ${u50 <= FLOOR_FACTOR * f50 ? 'met' : 'missed'}`,
);
const etcdSuite = suites.find((s) => s.name === 'etcd');
if (etcdSuite) {
  console.log(`  uncontended p50 against etcd's: ${ms(u50)} vs ${ms(p(etcdSuite.uncontended, 50))} ms = ${x(u50, p(etcdSuite.uncontended, 50))}`);
  console.log(
    `  throughput at least ${ETCD_THROUGHPUT_FACTOR}x etcd's: ${rate(sy.throughput).toFixed(0)} vs ${rate(etcdSuite.throughput).toFixed(0)} ops/s = ${x(rate(sy.throughput), rate(etcdSuite.throughput))} -> ${rate(sy.throughput) >= ETCD_THROUGHPUT_FACTOR * rate(etcdSuite.throughput) ? 'met' : 'missed'}`,
  );
  console.log(`  handoff p99 at most etcd's: ${ms(p(sy.handoff, 99))} vs ${ms(p(etcdSuite.handoff, 99))} ms = ${x(p(sy.handoff, 99), p(etcdSuite.handoff, 99))} -> ${p(sy.handoff, 99) <= p(etcdSuite.handoff, 99) ? 'met' : 'missed'}`);
} else {
  console.log('  throughput and handoff against etcd: not run (full mode with etcd only)');
}

if (problems.length > 0) {
  console.error(`\nproblems:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}
