// `npm run bench:kv [-- --quick] [--engine raft|paxos|all] [--seconds S] [--keys N] [--mem-keys N] [--kills N] [--connections N] [--no-etcd] [--app FILE] [--json FILE]`
//
// `--engine` picks the replicas' consensus engine: raft (default), paxos, or all (Raft, then
// Multi-Paxos, in one run, with a paxos/raft ratio table). Every put case reports each replica's
// CPU time per 1,000 puts (each process's own accounting, read before and after the case).
// `--app` runs another build of the replica (bench/ab-kv.sh compares two commits that way);
// `--json` also writes the results to a file.
// The replicated store end to end: three consensus replicas (real processes, production timing:
// TICK_MS 100, ELECTION_TICKS 10) on one nats-server, loaded from this process. Puts and
// linearizable gets (8-byte keys, 256-byte values) in a closed loop at 1, 16 and 256 clients;
// the time writes take to resume after the leader is SIGKILLed; each replica's RSS holding 100,000
// keys. Then (full mode, when an `etcd` binary is on PATH) the same against a three-member etcd
// 3.4 cluster on loopback through the `etcd3` gRPC client, with the ratio Synod/etcd per case.
// `--quick` (CI) runs Synod's side only, briefly, and needs no etcd.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsBinary, workspaceRoot } from '@synod/testkit';
import { LOAD_POLICY, RESUME_POLICY, key, pct, printCases, printCpu, rate, readRss, sleep, summarize, table, value, type CaseResult, type KvTarget, type Rss } from './kv-common.js';
import { BoundProbe, pooled } from './kv-bound.js';
import { SynodTarget } from './kv-synod.js';
import { benchArgs, closedLoop, cpuSeconds, machine, ms, type LoadResult } from './lib.js';

const cli = benchArgs('kv', {
  engine: { type: 'string', help: 'raft, paxos or all (raft)' },
  seconds: { type: 'number', help: 'seconds per case (10; quick 0.5)' },
  keys: { type: 'number', help: 'keyspace of the load (10000; quick 1000)' },
  'mem-keys': { type: 'number', help: 'keys written for the memory figure (100000; quick 2000)' },
  kills: { type: 'number', help: 'leader kills of the resume case (5; quick 1)' },
  connections: { type: 'number', help: "the load client's NATS connections (4)" },
  'no-etcd': { type: 'boolean', help: 'skip etcd' },
  app: { type: 'string', help: "the replica's bundle to run (this workspace's apps/consensus/dist/main.js)" },
  json: { type: 'string', help: 'also write the results to this file' },
});

function engineOption(): ('raft' | 'paxos')[] {
  const v = cli.string('engine', 'raft');
  if (v === 'raft' || v === 'paxos') return [v];
  if (v === 'all' || v === 'raft,paxos') return ['raft', 'paxos'];
  console.error(`--engine must be raft, paxos or all, got ${JSON.stringify(v)}`);
  process.exit(2);
}
const engines = engineOption();

const quick = cli.flag('quick');
const seconds = cli.number('seconds', quick ? 0.5 : 10);
const warmupSeconds = quick ? 0.2 : 2;
const keyspace = cli.number('keys', quick ? 1000 : 10_000);
const memKeys = cli.number('mem-keys', quick ? 2000 : 100_000);
const kills = cli.number('kills', quick ? 1 : 5);
/** Seconds without load before the at-rest RSS reading (as long as a replica's heap trim needs, and more). */
const REST_SECONDS = quick ? 1 : 25;
const connections = cli.number('connections', 4);
const withEtcd = !quick && !cli.flag('no-etcd');
const CONCURRENCY = [1, 16, 256];
const FILL_CONCURRENCY = 256;
const RESUME_WRITERS = 4;
/** The 1-client put runs in this many slices, with the bound's inputs sampled around each. */
const BOUND_SLICES = quick ? 1 : 5;
const BOUND_PROBE_SECONDS = quick ? 0.1 : 0.4;
/**
 * One durable WAL append on this disk as bench:wal measured it alone (docs/benchmarks.md), printed
 * beside the figure this run measures itself (`BoundProbe`). The targets printed at the end (they
 * do not change the exit status) include a 1-client put p50 within 3x the WAL's sync latency plus
 * two NATS round trips, both measured in this run.
 */
const FSYNC_MS_REFERENCE = 0.25;
/** Beyond this fraction of failed requests in a Synod case the run fails. */
const MAX_ERROR_FRACTION = 0.01;

interface Resume {
  killed: string;
  resumeMs: number;
  electedMs: number | undefined;
}

interface Suite {
  name: string;
  cases: CaseResult[];
  resumes: Resume[];
  rss: Rss[];
  rssRest: Rss[];
  fillRate: number;
  fillErrors: number;
  problems: string[];
  /** The put x1 bound's inputs, sampled before and after each of the put's slices. */
  bound?: { rtt: LoadResult; sync: LoadResult; slices: number };
}

const active = new Set<KvTarget>();
const startedAt = performance.now();
/** A progress line, with the time since the start. */
function progress(line: string): void {
  console.log(`[${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${line}`);
}
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

/** Writes `n` distinct keys with 256 writers; returns writes/s and failures. */
async function fill(t: KvTarget, prefix: string, n: number): Promise<{ rate: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(FILL_CONCURRENCY, n) }, async () => {
      while (next < n) {
        const i = next++;
        await t.put(key(prefix, i), value(i), LOAD_POLICY).catch(() => errors++);
      }
    }),
  );
  return { rate: n / ((performance.now() - t0) / 1000), errors };
}

async function resumeRound(t: KvTarget): Promise<Resume> {
  await t.caughtUp(60_000);
  const leader = await t.leader(15_000);
  let stopping = false;
  let killAt = Infinity;
  const { promise: acked, resolve: resolveAck } = Promise.withResolvers<number>();
  let n = 0;
  let failures = 0;
  const writers = Array.from({ length: RESUME_WRITERS }, async () => {
    while (!stopping) {
      const i = n++;
      try {
        const started = await t.put(key('r', i % 1_000_000), value(i), RESUME_POLICY);
        // Only an attempt begun after the kill proves a new leader took the write.
        if (started >= killAt) resolveAck(performance.now());
      } catch {
        failures++;
      }
    }
  });
  await sleep(1000);
  killAt = performance.now();
  const killing = t.kill(leader);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 30_000)));
  const at = await Promise.race([acked, timeout]);
  clearTimeout(timer);
  await killing;
  await sleep(300);
  stopping = true;
  await Promise.all(writers);
  if (at === undefined) throw new Error(`${t.name}: no write acknowledged within 30 s of killing ${leader} (${failures} failed writes)`);
  let elected: number | undefined;
  for (const m of t.members) {
    if (m === leader) continue;
    const e = t.becameLeaderAt?.(m, killAt);
    if (e !== undefined && (elected === undefined || e < elected)) elected = e;
  }
  await t.restart(leader);
  await t.caughtUp(60_000);
  return { killed: leader, resumeMs: at - killAt, electedMs: elected === undefined ? undefined : elected - killAt };
}

async function runSuite(t: KvTarget, probe?: BoundProbe): Promise<Suite> {
  const suite: Suite = { name: t.name, cases: [], resumes: [], rss: [], rssRest: [], fillRate: 0, fillErrors: 0, problems: [] };
  progress(`${t.name}: leader ${await t.leader(30_000)}`);

  // Memory first, on a store holding only the keys loaded for it.
  const mem = await fill(t, 'm', memKeys);
  suite.fillRate = mem.rate;
  suite.fillErrors = mem.errors;
  await t.caughtUp(60_000);
  await sleep(1000);
  suite.rss = await Promise.all(t.members.map((m) => readRss(m, t.pid(m))));
  progress(`${t.name}: ${memKeys} keys loaded at ${mem.rate.toFixed(0)} writes/s (${mem.errors} failed); RSS ${suite.rss.map((r) => `${r.member} ${r.rssMb.toFixed(0)} MB`).join(', ')}`);
  // At rest: the same store after REST_SECONDS with no load (a replica compacts its heap once it
  // has been quiet for 10 s, HEAP_TRIM_QUIET_MS).
  await sleep(REST_SECONDS * 1000);
  suite.rssRest = await Promise.all(t.members.map((m) => readRss(m, t.pid(m))));
  progress(`${t.name}: RSS at rest ${suite.rssRest.map((r) => `${r.member} ${r.rssMb.toFixed(0)} MB`).join(', ')}`);

  const pre = await fill(t, 'k', keyspace);
  suite.fillErrors += pre.errors;
  if (mem.errors + pre.errors > 0) suite.problems.push(`${mem.errors + pre.errors} writes failed while loading keys`);

  const rnd = (): number => Math.floor(Math.random() * keyspace);
  const ops = {
    put: () => t.put(key('k', rnd()), value(Math.floor(Math.random() * 64)), LOAD_POLICY).then(() => undefined),
    get: () => t.get(key('k', rnd()), LOAD_POLICY).then(() => undefined),
  };
  for (const op of ['put', 'get'] as const) {
    for (const c of CONCURRENCY) {
      await closedLoop('warm-up', c, warmupSeconds, ops[op]);
      t.counters.reset();
      // Each member's CPU over the case, from its own accounting: read just before and just after.
      const leader = op === 'put' ? await t.leader(15_000) : undefined;
      const cpuBefore = t.members.map((m) => cpuSeconds(t.pid(m)));
      let r: LoadResult;
      if (probe && op === 'put' && c === 1) {
        // The bound's inputs bracket every slice of the put, with the cluster idle while they run.
        const parts: LoadResult[] = [];
        await probe.sample(BOUND_PROBE_SECONDS);
        for (let k = 0; k < BOUND_SLICES; k++) {
          parts.push(await closedLoop('put x1', 1, seconds / BOUND_SLICES, ops.put));
          await probe.sample(BOUND_PROBE_SECONDS);
        }
        r = pooled('put x1', parts);
        suite.bound = { rtt: pooled('nats rtt', probe.rtt), sync: pooled('wal sync', probe.sync), slices: BOUND_SLICES };
      } else {
        r = await closedLoop(`${op} x${c}`, c, seconds, ops[op]);
      }
      const cpuAfter = t.members.map((m) => cpuSeconds(t.pid(m)));
      const cpu =
        leader === undefined || r.requests === 0
          ? undefined
          : t.members.map((member, i) => ({ member, leader: member === leader, msPer1000: ((cpuAfter[i]! - cpuBefore[i]!) * 1e6) / r.requests }));
      suite.cases.push({ ...r, retries: t.counters.retries, errorKinds: t.counters.describe(), ...(cpu ? { cpu } : {}) });
      progress(`${t.name} ${r.name}: ${rate(r).toFixed(0)} req/s, p50 ${ms(pct(r, 50))} ms${t.counters.byKind.size > 0 ? ` (client saw: ${t.counters.describe()})` : ''}`);
    }
  }

  for (let i = 0; i < kills; i++) {
    const r = await resumeRound(t);
    suite.resumes.push(r);
    progress(
      `${t.name} leader kill ${i + 1}/${kills}: killed ${r.killed}, ${r.electedMs === undefined ? '' : `new leader after ${r.electedMs.toFixed(0)} ms, `}first write acknowledged after ${r.resumeMs.toFixed(0)} ms`,
    );
  }
  return suite;
}

function printSuite(s: Suite): void {
  console.log(`\n== ${s.name} ==`);
  printCases(s.cases);
  printCpu(s.cases);
  const kinds = s.cases.filter((c) => c.errorKinds).map((c) => `${c.name}: ${c.errorKinds}`);
  if (kinds.length > 0) console.log(`client-side errors and retries by kind: ${kinds.join('; ')}`);
  if (s.resumes.length > 0) {
    console.log(`\nwrites resumed after SIGKILL of the leader: ${summarize(s.resumes.map((r) => r.resumeMs))}`);
    const elected = s.resumes.map((r) => r.electedMs).filter((e): e is number => e !== undefined);
    if (elected.length > 0) console.log(`  (new leader logged "became leader": ${summarize(elected)})`);
    console.log(`  rounds: ${s.resumes.map((r) => r.resumeMs.toFixed(0)).join(', ')} ms`);
  }
  console.log(`\nmemory after loading ${memKeys} keys of 256 bytes (${s.fillRate.toFixed(0)} writes/s at ${FILL_CONCURRENCY} writers), 1 s after the load and at rest (${REST_SECONDS} s after):`);
  table(
    ['member', 'VmRSS MB', 'RssAnon MB', 'VmHWM MB', 'at rest VmRSS MB', 'at rest RssAnon MB'],
    s.rss.map((r, i) => [r.member, r.rssMb.toFixed(1), r.anonMb.toFixed(1), r.hwmMb.toFixed(1), s.rssRest[i]?.rssMb.toFixed(1) ?? '-', s.rssRest[i]?.anonMb.toFixed(1) ?? '-']),
  );
}

function ratioRows(a: Suite, b: Suite): string[][] {
  return a.cases.map((ca) => {
    const cb = b.cases.find((x) => x.name === ca.name);
    if (!cb) return [ca.name, '-', '-', '-', '-'];
    const r = (x: number, y: number) => (y > 0 && Number.isFinite(x) && Number.isFinite(y) ? `${(x / y).toFixed(2)}x` : '-');
    return [ca.name, r(rate(ca), rate(cb)), r(pct(ca, 50), pct(cb, 50)), r(pct(ca, 99), pct(cb, 99)), r(pct(ca, 99.9), pct(cb, 99.9))];
  });
}

const nats = findNatsBinary();
const etcdInfo = withEtcd ? (await import('./kv-etcd.js')).findEtcd() : undefined;
console.log(`bench:kv ${quick ? '(quick) ' : ''}— ${new Date().toISOString()}`);
console.log(`command: ${cli.command}`);
console.log(`machine: ${machine()}; nats-server ${version(nats, ['--version'], /v?(\d+\.\d+\.\d+)/)}`);
console.log(
  `synod (${engines.join(', then ')}): 3 consensus replicas (TICK_MS 100, ELECTION_TICKS 10, data in ${tmpdir()}${cli.given('app') ? `, bundle ${cli.string('app', '')}` : ''}), one nats-server; ` +
    `load from this process over ${connections} NATS connections`,
);
if (withEtcd) {
  console.log(
    etcdInfo
      ? `etcd: ${etcdInfo.version} (${etcdInfo.path}), 3 members on loopback, defaults (heartbeat 100 ms, election 1000 ms); ` +
          `client etcd3 ${packageVersion('etcd3')} (gRPC, @grpc/grpc-js ${packageVersion('@grpc/grpc-js')}), ${connections} client instances, own fault handling off`
      : 'etcd: no `etcd` binary on PATH (Debian: apt-get install etcd-server): the comparison is skipped',
  );
}
console.log(
  `workload: 8-byte keys from a keyspace of ${keyspace} (preloaded), 256-byte values, closed loop at ${CONCURRENCY.join('/')} clients, ` +
    `${seconds} s per case after ${warmupSeconds} s warm-up; retries as libs/store-client (attempt ${LOAD_POLICY.attemptTimeoutMs} ms, ` +
    `budget ${LOAD_POLICY.deadlineMs} ms, backoff ${LOAD_POLICY.initialMs}..${LOAD_POLICY.maxMs} ms); leader kills: ${kills} ` +
    `with ${RESUME_WRITERS} writers (attempt ${RESUME_POLICY.attemptTimeoutMs} ms, backoff ${RESUME_POLICY.initialMs}..${RESUME_POLICY.maxMs} ms)\n`,
);

const suites: Suite[] = [];
let rtt = NaN;
let walSync = NaN;
let failed = false;

for (const engine of engines) {
  const synod = await SynodTarget.start({ connections, tickMs: 100, electionTicks: 10, engine, ...(cli.given('app') ? { script: cli.string('app', '') } : {}) });
  active.add(synod);
  progress(`${synod.name}: replicas started`);
  try {
    const probe = await BoundProbe.open(synod.natsUrl);
    try {
      if (Number.isNaN(rtt)) {
        await probe.sample(quick ? 0.3 : 2);
        rtt = pct(probe.rtt[0]!, 50);
        walSync = pct(probe.sync[0]!, 50);
        probe.rtt.length = 0;
        probe.sync.length = 0;
      }
      suites.push(await runSuite(synod, probe));
    } finally {
      await probe.close();
    }
  } catch (err) {
    console.error(`${synod.name} side failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    failed = true;
  } finally {
    await synod.stop();
    active.delete(synod);
    progress(`${synod.name}: stopped`);
  }
}

if (withEtcd && etcdInfo) {
  const { EtcdTarget } = await import('./kv-etcd.js');
  let etcd: KvTarget | undefined;
  try {
    etcd = await EtcdTarget.start(etcdInfo.path, connections);
    active.add(etcd);
    suites.push(await runSuite(etcd));
  } catch (err) {
    console.error(`etcd side failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    failed = true;
  } finally {
    await etcd?.stop();
    if (etcd) active.delete(etcd);
  }
}

for (const s of suites) printSuite(s);
const pax = suites.find((s) => s.name === 'synod-paxos');
const [syn, etc] = [suites.find((s) => s.name === 'synod') ?? pax, suites.find((s) => s.name === 'etcd')];
const raftSuite = suites.find((s) => s.name === 'synod');
if (raftSuite && pax) {
  console.log('\n== ratio paxos/raft (throughput: higher is better for paxos; latency: lower is better) ==');
  table(['', 'req/s', 'p50', 'p99', 'p99.9'], ratioRows(pax, raftSuite));
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor((x.length - 1) / 2)]!;
  const rp = pax.resumes.map((r) => r.resumeMs);
  const rr = raftSuite.resumes.map((r) => r.resumeMs);
  if (rp.length > 0 && rr.length > 0) console.log(`leader-kill resume, median: paxos ${med(rp).toFixed(0)} ms, raft ${med(rr).toFixed(0)} ms`);
}
if (syn && etc) {
  console.log('\n== ratio synod/etcd (throughput: higher is better for synod; latency: lower is better) ==');
  table(['', 'req/s', 'p50', 'p99', 'p99.9'], ratioRows(syn, etc));
  const rs = syn.resumes.map((r) => r.resumeMs);
  const re = etc.resumes.map((r) => r.resumeMs);
  if (rs.length > 0 && re.length > 0) {
    const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor((x.length - 1) / 2)]!;
    console.log(`leader-kill resume, median: synod ${med(rs).toFixed(0)} ms, etcd ${med(re).toFixed(0)} ms (${(med(rs) / med(re)).toFixed(2)}x)`);
  }
  const mx = (x: Rss[]) => Math.max(...x.map((r) => r.rssMb));
  console.log(`largest RSS after ${memKeys} keys: 1 s after the load synod ${mx(syn.rss).toFixed(0)} MB, etcd ${mx(etc.rss).toFixed(0)} MB; at rest synod ${mx(syn.rssRest).toFixed(0)} MB, etcd ${mx(etc.rssRest).toFixed(0)} MB`);
}

if (syn) {
  console.log('\n== targets ==');
  const c = (name: string) => syn.cases.find((x) => x.name === name);
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT MET');
  const put256 = c('put x256');
  const etcPut256 = etc?.cases.find((x) => x.name === 'put x256');
  if (put256 && etcPut256) console.log(`put throughput at 256 clients >= etcd's: ${rate(put256).toFixed(0)} vs ${rate(etcPut256).toFixed(0)} req/s — ${mark(rate(put256) >= rate(etcPut256))}`);
  const put1 = c('put x1');
  if (put1) {
    const p50 = pct(put1, 50) / 1000;
    const start = 3 * (walSync / 1000) + 2 * (rtt / 1000);
    const withReference = 3 * FSYNC_MS_REFERENCE + 2 * (rtt / 1000);
    if (syn.bound) {
      const [s50, r50] = [pct(syn.bound.sync, 50), pct(syn.bound.rtt, 50)];
      const bound = 3 * (s50 / 1000) + 2 * (r50 / 1000);
      const etcPut1 = etc?.cases.find((x) => x.name === 'put x1');
      console.log(
        `1-client put p50 <= 3 x the WAL's sync + 2 NATS round trips, both sampled around each of the put's ${syn.bound.slices} slices ` +
          `(sync p50 ${ms(s50)} ms, round trip p50 ${ms(r50)} ms) = ${bound.toFixed(2)} ms: ${ms(pct(put1, 50))} ms (${(p50 / bound).toFixed(2)}x) — ${mark(p50 <= bound)}` +
          (etcPut1 ? `; etcd's 1-client put in this run: ${ms(pct(etcPut1, 50))} ms (${(pct(etcPut1, 50) / 1000 / bound).toFixed(2)}x the same bound)` : ''),
      );
    }
    console.log(
      `  with the inputs measured once at the start instead: sync p50 ${ms(walSync)} ms (${FSYNC_MS_REFERENCE} ms in bench:wal), round trip p50 ${ms(rtt)} ms ` +
        `= ${start.toFixed(2)} ms (${withReference.toFixed(2)} ms with bench:wal's sync): ${(p50 / start).toFixed(2)}x — ${mark(p50 <= start)}`,
    );
  }
  const bestGet = Math.max(...syn.cases.filter((x) => x.name.startsWith('get')).map(rate));
  console.log(`linearizable reads >= 15000/s: best ${bestGet.toFixed(0)}/s — ${mark(bestGet >= 15_000)}`);
  const maxRss = Math.max(...syn.rssRest.map((r) => r.rssMb));
  const maxLoaded = Math.max(...syn.rss.map((r) => r.rssMb));
  console.log(
    `RSS <= 150 MB per replica holding 100000 keys (at rest): ${maxRss.toFixed(0)} MB with ${memKeys} keys${memKeys >= 100_000 ? ` — ${mark(maxRss <= 150)}` : ' (quick mode: not the target size)'}; 1 s after the load: ${maxLoaded.toFixed(0)} MB`,
  );
}

if (cli.given('json')) {
  const out = suites.map((s) => ({
    name: s.name,
    cases: s.cases.map((c) => ({ name: c.name, rate: rate(c), p50Ms: pct(c, 50) / 1000, p99Ms: pct(c, 99) / 1000, p999Ms: pct(c, 99.9) / 1000, errors: c.errors, cpu: c.cpu ?? [] })),
    resumesMs: s.resumes.map((r) => r.resumeMs),
  }));
  writeFileSync(cli.string('json', ''), `${JSON.stringify({ command: cli.command, at: new Date().toISOString(), suites: out }, null, 2)}\n`);
}

for (const s of suites) {
  for (const r of s.cases) {
    if (r.requests === 0) s.problems.push(`${r.name} had no successful request`);
    else if (s.name.startsWith('synod') && r.errors / (r.requests + r.errors) > MAX_ERROR_FRACTION) s.problems.push(`${r.name}: ${r.errors} of ${r.requests + r.errors} requests failed`);
  }
  if (!s.name.startsWith('synod')) s.problems = s.problems.filter((p) => p.includes('no successful'));
  for (const p of s.problems) console.error(`${s.name}: ${p}`);
  if (s.problems.length > 0) failed = true;
}
if (!syn) failed = true;
if (failed) {
  console.error('bench:kv failed');
  process.exitCode = 1;
}
