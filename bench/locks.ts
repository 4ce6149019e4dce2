// `npm run bench:locks -- [--quick] [--seconds S] [--no-etcd] [--no-redis] [--redis-poll-ms MS]`
//
// Distributed locks end to end. Synod: three consensus replicas (real processes, production
// timing: TICK_MS 100, ELECTION_TICKS 10) and two lock-manager instances on one nats-server,
// through @synod/locks's LockClient. Three workloads, each in a closed loop after a warm-up:
//   (1) uncontended acquire+release, 1 client, one name;
//   (2) throughput, 64 clients over 10,000 names, acquire+release per op;
//   (3) handoff, 32 waiters on one name (each holds 1 ms): time from a holder's release to the next grant.
// For context, the store's own 1-client put in the same run, and the lock-API requests one
// acquire+release is made of, timed one by one. Full mode then runs the same workloads against a
// three-member etcd 3.4 cluster (etcd's v3lock Lock/Unlock RPC over gRPC, see locks-etcd.ts) and a
// Redis 7 server (SET NX PX + poll, Lua compare-and-delete, see locks-redis.ts), one system at a
// time, and prints Synod/etcd and Synod/Redis ratios and the targets. `--quick` (CI) runs
// Synod's side only, briefly, and needs neither etcd nor Redis.
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
/** Target of the issue: uncontended acquire+release p50 within this factor of the store's put p50. */
const PUT_FACTOR = 2.5;

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
async function suite(t: LockTarget, put?: (key: string, value: string) => Promise<unknown>): Promise<Suite> {
  progress(`${t.name}: uncontended`);
  await uncontended(t, firstWarmupSeconds, 'warm-up');
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

const rate = (r: LoadResult) => (r.seconds > 0 ? r.requests / r.seconds : 0);
const p = (r: LoadResult, q: number) => (r.requests > 0 ? r.histogram.getValueAtPercentile(q) : NaN);
const x = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');

const command = cli.command;
console.log(`bench:locks ${quick ? '(quick) ' : ''}on ${machine()}`);
console.log(`date ${new Date().toISOString()}, command: ${command}`);
console.log(
  `nats-server ${version(findNatsBinary(), ['--version'], /v(\d+\.\d+\.\d+)/)}; Synod: 3 consensus replicas (TICK_MS 100, ELECTION_TICKS 10) + 2 lock managers, ` +
    `LockClient over 4 NATS connections; lease TTL 10 s on every system; ${seconds} s per case after ${warmupSeconds} s warm-up (${firstWarmupSeconds} s before the first)\n`,
);

const suites: Suite[] = [];
const problems: string[] = [];
let steps: Map<string, Histogram> | undefined;

progress('synod: starting 3 replicas and 2 lock managers');
const synod = await SynodLocks.start({ tickMs: 100, electionTicks: 10, managers: 2, connections: 4 });
active.add(synod);
try {
  const s = await suite(synod, (k, v) => synod.put(k, v));
  suites.push(s);
  progress(`synod: ${STEP_ITERATIONS} acquire+release split into lock-API requests`);
  steps = await synod.steps(STEP_ITERATIONS);
  for (const r of [s.uncontended, s.throughput, s.handoff, s.put!, s.put64!]) {
    if (r.requests === 0) problems.push(`synod ${r.name}: no requests`);
    if (r.errors > 0) problems.push(`synod ${r.name}: ${r.errors} errors`);
  }
} finally {
  await synod.stop();
  active.delete(synod);
}

if (withEtcd) {
  const bin = findEtcd();
  if (!bin) console.log('\netcd: no `etcd` binary on PATH (apt-get install etcd-server): skipped');
  else {
    progress(`etcd ${bin.version}: starting a 3-member cluster`);
    const etcd = await EtcdLocks.start(bin.path);
    active.add(etcd);
    try {
      suites.push(await suite(etcd, (k, v) => etcd.put(k, v)));
    } finally {
      await etcd.stop();
      active.delete(etcd);
    }
  }
}

if (withRedis) {
  const bin = findRedis();
  if (!bin) console.log('\nredis: no `redis-server` on PATH (apt-get install redis-server): skipped');
  else {
    progress(`redis ${bin.version}: starting one server`);
    const redis = await RedisLocks.start(bin.path, 4, redisPollMs);
    active.add(redis);
    try {
      suites.push(await suite(redis, (k, v) => redis.put(k, v)));
    } finally {
      await redis.stop();
      active.delete(redis);
    }
  }
}

console.log('');
if (withEtcd || withRedis) {
  const etcdV = version(findEtcd()?.path, ['--version'], /etcd Version: (\S+)/);
  const redisV = version(findRedis()?.path, ['--version'], /v=(\S+)/);
  console.log(
    `etcd ${etcdV}: 3 members on loopback, v3lock Lock/Unlock RPC + lease grant/revoke over @grpc/grpc-js ${packageVersion('@grpc/grpc-js')}, one lease per acquire, round-robin over the members`,
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
for (const sec of sections) {
  console.log(sec.title);
  printTable(suites.flatMap((s) => {
    const r = sec.pick(s);
    return r ? [{ ...r, name: s.name }] : [];
  }));
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

console.log('targets:');
const u50 = p(sy.uncontended, 50);
const put50 = p(sy.put!, 50);
console.log(
  `  uncontended p50 within ${PUT_FACTOR}x the store's 1-client put p50: ${ms(u50)} ms vs ${ms(put50)} ms = ${x(u50, put50)} -> ${u50 <= PUT_FACTOR * put50 ? 'met' : 'missed'}`,
);
const etcd = suites.find((s) => s.name === 'etcd');
if (etcd) {
  console.log(`  throughput at least etcd's: ${rate(sy.throughput).toFixed(0)} vs ${rate(etcd.throughput).toFixed(0)} ops/s -> ${rate(sy.throughput) >= rate(etcd.throughput) ? 'met' : 'missed'}`);
  console.log(`  handoff p99 below etcd's: ${ms(p(sy.handoff, 99))} vs ${ms(p(etcd.handoff, 99))} ms -> ${p(sy.handoff, 99) < p(etcd.handoff, 99) ? 'met' : 'missed'}`);
} else {
  console.log('  throughput and handoff against etcd: not run (full mode with etcd only)');
}

if (problems.length > 0) {
  console.error(`\nproblems:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}
