// `npm run bench:gateway [-- --quick] [--processes 1,2,4] [--connections N] [--seconds S] [--rounds R] [--slow-ms MS] [--rate R]`
//
// HTTP -> gateway -> NATS -> worker, measured with wrk (Debian's; one thread, persistent
// connections, `POST {"message":"bench"}` through a Lua script), closed loop:
//
// 1. The comparison, in alternating rounds (the median of each system's rounds is its figure):
//    Synod's gateway with every feature on at its default (validation, metrics, access log, health
//    checks, a rate limit set above the offered load) at each --processes count; a minimal
//    `node:http` + nats.js gateway to the same three workers (the floor for a Node gateway on NATS);
//    Moleculer 0.14 + moleculer-web 0.10 over NATS on three nodes; nginx round-robin over HTTP to three
//    `node:http` echo servers. Targets: throughput >= 0.9x and p99 <= 1.2x the minimal gateway's,
//    throughput >= 1.1x Moleculer's, with one gateway process.
// 2. p2c-ewma on three workers healthy, with one of them 100 ms slow, and with one frozen (SIGSTOP
//    during the measurement): the p99 of each degraded case within 1.2x of the healthy one.
// 3. Per strategy, five workers healthy and with one of five slow (+50 ms), beside raw NATS
//    request-reply to the same workers (the floor): one SVG latency chart per strategy.
// 4. The gateway's added latency at a moderate fixed rate (open loop), and the memory and metric
//    series after requests to 100,000 random service names.
//
// --quick (CI): one 1 s round of the comparison without Moleculer and nginx, 1 s cases, charts to
// tmp/. Gateways log to files under tmp/ (the access log included), not to this process.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { AppProcess, appScript, startNats, uniqueNamespace, workspaceRoot } from '@synod/testkit';
import { fromHistogram, latencyChart, type Distribution } from './gateway-chart.js';
import { findNginx, startNginx, startNode, stopChild, type Child } from './gateway-procs.js';
import { findWrk, runWrk, type WrkResult } from './gateway-wrk.js';
import { readRss } from './kv-common.js';
import { benchArgs, closedLoop, machine, type LoadResult } from './lib.js';

const cli = benchArgs('gateway', {
  processes: { type: 'string', help: 'gateway process counts to measure, comma-separated (1,2; quick 1)' },
  connections: { type: 'number', help: 'wrk connections (64; quick 16)' },
  seconds: { type: 'number', help: 'seconds per measurement, whole (10; quick 1)' },
  rounds: { type: 'number', help: 'alternating rounds of the comparison and the p2c-ewma cases (3; quick 1)' },
  'slow-ms': { type: 'number', help: "the per-strategy case's slow worker, added latency in ms (50)" },
  rate: { type: 'number', help: 'requests per second of the open-loop cases (1000)' },
});
const quick = cli.flag('quick');
const connections = cli.number('connections', quick ? 16 : 64);
const seconds = Math.max(1, Math.round(cli.number('seconds', quick ? 1 : 10)));
const warmupSeconds = quick ? 0 : 2;
const rounds = Math.round(cli.number('rounds', quick ? 1 : 3));
const slowMs = cli.number('slow-ms', 50);
const rate = cli.number('rate', 1000);
const processCounts = parseCounts(cli.string('processes', quick ? '1' : '1,2'));
const STRATEGIES = ['round-robin', 'random', 'weighted', 'least-outstanding', 'p2c-ewma', 'consistent-hash'] as const;
// Only a full run with the documented settings replaces the charts in docs/.
const documented = !quick && !['seconds', 'connections', 'slow-ms', 'rate', 'rounds'].some((o) => cli.given(o));
const chartsDir = documented ? join(workspaceRoot, 'docs') : join(workspaceRoot, 'tmp', 'bench-charts');
const workDir = join(workspaceRoot, 'tmp', `bench-gateway-${process.pid}`);

function parseCounts(raw: string): number[] {
  const counts = raw.split(',').map((s) => Number(s.trim()));
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) {
    console.error(`bench:gateway: --processes needs comma-separated counts from 1 to 64, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return [...new Set(counts)];
}

const wrkBinary = findWrk();
if (wrkBinary === undefined) {
  console.error('bench:gateway needs wrk (Debian/Ubuntu: apt-get install wrk)');
  process.exit(1);
}

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  maxMs: number;
  requests: number;
  errors: number;
}
const rows: Row[] = [];
const notes: string[] = [];
const failures: string[] = [];
const rowOf = (r: WrkResult): Row => ({
  name: r.name,
  rps: r.requests / r.seconds,
  p50: r.at(50),
  p99: r.at(99),
  p999: r.at(99.9),
  maxMs: r.maxMs,
  requests: r.requests,
  errors: r.socketErrors + r.badStatus,
});
const show = (r: Row): void =>
  console.log(`  ${r.name.padEnd(44)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)}  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** The median row of several rounds of one system: median req/s, p50, p99 (each on its own). */
const medianRow = (name: string, rs: Row[]): Row => ({
  name,
  rps: median(rs.map((r) => r.rps)),
  p50: median(rs.map((r) => r.p50)),
  p99: median(rs.map((r) => r.p99)),
  p999: median(rs.map((r) => r.p999)),
  maxMs: Math.max(...rs.map((r) => r.maxMs)),
  requests: rs.reduce((a, r) => a + r.requests, 0),
  errors: rs.reduce((a, r) => a + r.errors, 0),
});

/** One wrk run, printed and kept; errors in a Synod measurement fail the benchmark, explained by its metrics. */
async function measure(name: string, url: string, opts: { keyed?: boolean; gateway?: Gateway } = {}): Promise<{ row: Row; result: WrkResult }> {
  if (warmupSeconds > 0) await runWrk(wrkBinary!, workDir, `${name} warm-up`, url, { connections, seconds: warmupSeconds, ...(opts.keyed ? { keyed: true } : {}) });
  const before = opts.gateway ? await refusals(opts.gateway) : undefined;
  const result = await runWrk(wrkBinary!, workDir, name, url, { connections, seconds, ...(opts.keyed ? { keyed: true } : {}) });
  const row = rowOf(result);
  show(row);
  if (row.requests === 0 || (opts.gateway && row.errors > 0)) {
    const why = before ? ` (${describeRefusals(before, await refusals(opts.gateway!))})` : '';
    failures.push(`${name}: ${row.requests} requests, ${row.errors} errors${why}`);
  }
  return { row, result };
}

/** The gateway's answers other than 200 by status, and its refusals by reason, as counted in its metrics. */
async function refusals(g: Gateway): Promise<Map<string, number>> {
  const text = await (await fetch(`${g.opsUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const status = /^synod_gateway_requests_total\{.*status="(\d+)".*\} (\S+)$/.exec(line);
    if (status && status[1] !== '200') out.set(`status ${status[1]}`, (out.get(`status ${status[1]}`) ?? 0) + Number(status[2]));
    const reason = /^synod_gateway_rejected_total\{.*reason="([\w-]+)".*\} (\S+)$/.exec(line);
    if (reason) out.set(`refused: ${reason[1]}`, (out.get(`refused: ${reason[1]}`) ?? 0) + Number(reason[2]));
  }
  return out;
}

function describeRefusals(before: Map<string, number>, after: Map<string, number>): string {
  const parts = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, d]) => d > 0);
  return parts.length === 0 ? 'none counted by the gateway: socket errors' : parts.map(([k, d]) => `${k} x${d}`).join(', ');
}

/** A gateway process tree with its log in a file (the access log's cost stays in the gateway). */
interface Gateway {
  name: string;
  proc: ChildProcess;
  url: string;
  opsUrl: string;
  pid: number;
}

const nats = await startNats();
const namespace = uniqueNamespace('bench');
const apps: AppProcess[] = [];
const children: Child[] = [];
const gateways: Gateway[] = [];
const stops: (() => Promise<void>)[] = [];
const common = { NATS_URL: nats.url, SYNOD_NAMESPACE: namespace, LOG_LEVEL: 'warn' };
const adminToken = randomBytes(24).toString('hex');

async function startGateway(name: string, processes: number): Promise<Gateway> {
  const logFile = join(workDir, `${name}.log`);
  const out = openSync(logFile, 'w');
  const proc = spawn(process.execPath, [appScript('balancer-gateway')], {
    env: {
      PATH: process.env.PATH ?? '',
      NATS_URL: nats.url,
      SYNOD_NAMESPACE: namespace,
      PORT: '0',
      HOST: '127.0.0.1',
      HTTP_PORT: '0',
      ADMIN_TOKEN: adminToken,
      GATEWAY_PROCESSES: String(processes),
      // Every feature at its default; the rate limit on, above anything one client sends here.
      RATE_LIMIT_PER_SECOND: '1000000',
      LB_STRATEGY_OVERRIDES: 'slow3=p2c-ewma,frz3=p2c-ewma',
    },
    stdio: ['ignore', out, 'pipe'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = readFileSync(logFile, 'utf8')
      .split('\n')
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      })
      .find((l) => l?.msg === 'ready');
    if (ready) {
      const g = { name, proc, url: `http://127.0.0.1:${String(ready.port)}`, opsUrl: `http://127.0.0.1:${String(ready.httpPort)}`, pid: proc.pid! };
      gateways.push(g);
      return g;
    }
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`gateway ${name} did not start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

try {
  await mkdir(workDir, { recursive: true });
  console.log(`bench:gateway ${quick ? '(quick) ' : ''}on ${machine()}`);
  console.log(
    `wrk: 1 thread, ${connections} connections, ${seconds} s per measurement${warmupSeconds > 0 ? ` after ${warmupSeconds} s of warm-up` : ''}; ` +
      `${rounds} alternating round(s); gateway processes ${processCounts.join(', ')}\n`,
  );
  const worker = (id: string, service: string, extra: Record<string, string> = {}) =>
    AppProcess.start({ script: appScript('sample-worker'), env: { ...common, WORKER_ID: id, WORKER_SERVICE: service, ...extra }, readyTimeoutMs: 60_000 });
  const started = await Promise.all([
    ...[0, 1, 2].map((i) => worker(`t${i}`, 'three')),
    ...[0, 1, 2].map((i) => worker(`s${i}`, 'slow3', i === 2 ? { WORKER_EXTRA_LATENCY_MS: '100' } : {})),
    ...[0, 1, 2].map((i) => worker(`z${i}`, 'frz3')),
    ...[0, 1, 2, 3, 4].map((i) => worker(`h${i}`, 'five')),
    ...[0, 1, 2, 3].map((i) => worker(`d${i}`, 'degraded')),
    worker('slow', 'degraded', { WORKER_EXTRA_LATENCY_MS: String(slowMs) }),
  ]);
  apps.push(...started.map((s) => s.app));
  const frozen = started.find((s) => s.ready.id === 'z2')!.app;

  const synod = new Map<number, Gateway>();
  for (const n of processCounts) synod.set(n, await startGateway(`synod-${n}p`, n));
  const gw = synod.get(processCounts[0]!)!;
  const workersOf = async (g: Gateway) => ((await (await fetch(`${g.url}/v1/workers`)).json()) as { workers: { id: string; ejected?: boolean }[] }).workers;
  for (const g of synod.values()) {
    for (;;) {
      if ((await workersOf(g)).length === started.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const setStrategy = async (service: string, strategy: string | null): Promise<void> => {
    const res = await fetch(`${gw.opsUrl}/v1/admin/services/${service}/strategy`, {
      method: strategy === null ? 'DELETE' : 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, ...(strategy === null ? {} : { 'content-type': 'application/json' }) },
      ...(strategy === null ? {} : { body: JSON.stringify({ strategy }) }),
    });
    if (res.status !== 200) throw new Error(`setting ${strategy} on ${service}: ${res.status} ${await res.text()}`);
  };

  // 1. The comparison.
  const minimal = await startNode([join(workspaceRoot, 'bench', 'gateway-minimal.mjs')], { NATS_URL: nats.url, SYNOD_NAMESPACE: namespace, WORKER_IDS: 't0,t1,t2' });
  children.push(minimal);
  const moleculer = quick ? undefined : await startMoleculer();
  const nginx = quick ? undefined : await startNginxEchoes();
  if (quick) notes.push('quick: Moleculer and nginx skipped (full runs only)');
  const systems: { name: string; url: string; gateway?: Gateway }[] = [
    ...processCounts.map((n) => ({ name: `Synod gateway, ${n} process${n === 1 ? '' : 'es'}`, url: `${synod.get(n)!.url}/v1/services/three/echo`, gateway: synod.get(n)! })),
    { name: 'minimal node:http + nats.js gateway', url: `http://127.0.0.1:${String(minimal.ready.port)}/v1/services/three/echo` },
    ...(moleculer ? [{ name: 'Moleculer + moleculer-web', url: moleculer }] : []),
    ...(nginx ? [{ name: 'nginx (1 worker) over HTTP', url: nginx }] : []),
  ];
  console.log('comparison, three echo workers (nodes, servers) behind each:');
  const perSystem = new Map<string, Row[]>(systems.map((s) => [s.name, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const s of systems) perSystem.get(s.name)!.push((await measure(`${s.name} (round ${r})`, s.url, s.gateway ? { gateway: s.gateway } : {})).row);
  }
  const comparison = systems.map((s) => medianRow(s.name, perSystem.get(s.name)!));
  rows.push(...comparison);

  // 2. p2c-ewma: healthy, one worker 100 ms slow, one worker frozen.
  console.log('\np2c-ewma on three workers: healthy, one 100 ms slow, one frozen (SIGSTOP during the measurement):');
  await setStrategy('three', 'p2c-ewma');
  const cases = { healthy: [] as Row[], slow: [] as Row[], frozen: [] as Row[] };
  for (let r = 1; r <= rounds; r++) {
    cases.healthy.push((await measure(`p2c-ewma healthy (round ${r})`, `${gw.url}/v1/services/three/echo`, { gateway: gw })).row);
    cases.slow.push((await measure(`p2c-ewma 1 of 3 100 ms slow (round ${r})`, `${gw.url}/v1/services/slow3/echo`, { gateway: gw })).row);
    if (warmupSeconds > 0) await runWrk(wrkBinary, workDir, 'frozen warm-up', `${gw.url}/v1/services/frz3/echo`, { connections, seconds: warmupSeconds });
    const before = await refusals(gw);
    frozen.signal('SIGSTOP');
    try {
      const result = await runWrk(wrkBinary, workDir, `p2c-ewma 1 of 3 frozen (round ${r})`, `${gw.url}/v1/services/frz3/echo`, { connections, seconds });
      const row = rowOf(result);
      show(row);
      if (row.errors > 0 || row.requests === 0) failures.push(`${row.name}: ${row.requests} requests, ${row.errors} errors (${describeRefusals(before, await refusals(gw))})`);
      cases.frozen.push(row);
    } finally {
      frozen.signal('SIGCONT');
    }
    // Back in rotation (registered, not ejected) before the next round.
    if (r < rounds) {
      const until = Date.now() + 60_000;
      while (!(await workersOf(gw)).some((w) => w.id === 'z2' && w.ejected === false)) {
        if (Date.now() > until) throw new Error('the frozen worker did not come back within 60 s');
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }
  await setStrategy('three', null);
  const p2c = { healthy: medianRow('p2c-ewma, 3 healthy', cases.healthy), slow: medianRow('p2c-ewma, 1 of 3 100 ms slow', cases.slow), frozen: medianRow('p2c-ewma, 1 of 3 frozen', cases.frozen) };
  rows.push(p2c.healthy, p2c.slow, p2c.frozen);

  // 3. Per strategy, and the raw NATS floor.
  const perStrategy = new Map<string, { healthy: WrkResult; degraded: WrkResult }>();
  console.log(`\nper strategy (5 workers; degraded: 1 of the 5 +${slowMs} ms), ${processCounts[0]} gateway process(es):`);
  for (const strategy of STRATEGIES) {
    await setStrategy('five', strategy);
    await setStrategy('degraded', strategy);
    const keyed = strategy === 'consistent-hash';
    const healthy = await measure(`${strategy} healthy`, `${gw.url}/v1/services/five/echo`, { keyed, gateway: gw });
    const degraded = await measure(`${strategy} 1 of 5 slow`, `${gw.url}/v1/services/degraded/echo`, { keyed, gateway: gw });
    rows.push(healthy.row, degraded.row);
    perStrategy.set(strategy, { healthy: healthy.result, degraded: degraded.result });
  }
  const nc = await connect({ servers: nats.url });
  stops.push(() => nc.close());
  const direct = (ids: string[], service: string) => {
    const subs = ids.map((id) => subjects.workerEndpoint(namespace, service, id, 'echo'));
    let n = 0;
    return async (): Promise<void> => {
      await busRequest(nc, subs[n++ % subs.length]!, { message: 'bench' }, { timeoutMs: 10_000, requestId: `b${n}` });
    };
  };
  console.log('\nthe floor, in this process:');
  const fiveIds = ['h0', 'h1', 'h2', 'h3', 'h4'];
  if (warmupSeconds > 0) await closedLoop('warm-up', connections, warmupSeconds, direct(fiveIds, 'five'));
  const floor = await closedLoop('raw NATS request-reply (5 workers)', connections, seconds, direct(fiveIds, 'five'));
  const floorRow = hdrRow(floor);
  show(floorRow);
  rows.push(floorRow);

  // 4. Added latency at a fixed rate, and the label flood.
  const pool = new Pool(gw.url, { connections, pipelining: 1 });
  stops.push(() => pool.close());
  const body = JSON.stringify({ message: 'bench' });
  const viaGateway = async (): Promise<void> => {
    const res = await pool.request({ method: 'POST', path: '/v1/services/five/echo', headers: { 'content-type': 'application/json' }, body });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  await setStrategy('five', 'p2c-ewma');
  const gwOpen = await openLoop(`gateway p2c-ewma at ${rate} req/s`, rate, seconds, viaGateway);
  const natsOpen = await openLoop(`raw NATS at ${rate} req/s`, rate, seconds, direct(fiveIds, 'five'));
  for (const r of [gwOpen, natsOpen]) {
    const row = hdrRow(r);
    show(row);
    rows.push(row);
    if (r.errors > 0) failures.push(`${r.name}: ${r.errors} errors`);
  }
  const labelFlood = await floodLabels(gw, pool, quick ? 2000 : 100_000);

  console.log('');
  printRows(rows);
  const target = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  console.log('\ntargets (medians of the rounds):');
  const one = comparison.find((r) => r.name.startsWith('Synod gateway, 1 process'));
  const min = comparison.find((r) => r.name.startsWith('minimal'));
  const mol = comparison.find((r) => r.name.startsWith('Moleculer'));
  const ngx = comparison.find((r) => r.name.startsWith('nginx'));
  if (one && min) {
    console.log(`  throughput vs the minimal gateway: ${one.rps.toFixed(0)} / ${min.rps.toFixed(0)} req/s = ${(one.rps / min.rps).toFixed(2)}x (target >= 0.9x: ${target(one.rps >= 0.9 * min.rps)})`);
    console.log(`  p99 vs the minimal gateway: ${one.p99.toFixed(2)} / ${min.p99.toFixed(2)} ms = ${(one.p99 / min.p99).toFixed(2)}x (target <= 1.2x: ${target(one.p99 <= 1.2 * min.p99)})`);
  } else {
    notes.push('the 1-process targets need --processes to include 1');
  }
  if (one && mol) console.log(`  throughput vs Moleculer: ${one.rps.toFixed(0)} / ${mol.rps.toFixed(0)} req/s = ${(one.rps / mol.rps).toFixed(2)}x (target >= 1.1x: ${target(one.rps >= 1.1 * mol.rps)})`);
  for (const n of processCounts.filter((c) => c > 1)) {
    const r = comparison.find((x) => x.name.startsWith(`Synod gateway, ${n} processes`))!;
    if (one) console.log(`  ${n} processes: ${r.rps.toFixed(0)} req/s = ${(r.rps / one.rps).toFixed(2)}x one process, p99 ${r.p99.toFixed(2)} ms`);
  }
  if (one && ngx) console.log(`  nginx over HTTP: ${(ngx.rps / one.rps).toFixed(2)}x the gateway's throughput`);
  for (const c of [p2c.slow, p2c.frozen]) {
    console.log(`  ${c.name}: p99 ${c.p99.toFixed(2)} ms vs healthy ${p2c.healthy.p99.toFixed(2)} ms = ${(c.p99 / p2c.healthy.p99).toFixed(2)}x (target <= 1.2x: ${target(c.p99 <= 1.2 * p2c.healthy.p99)})`);
  }
  console.log(`  added p50 at ${rate} req/s: ${((gwOpen.histogram.getValueAtPercentile(50) - natsOpen.histogram.getValueAtPercentile(50)) / 1000).toFixed(3)} ms over raw NATS (target <= 0.5 ms)`);
  console.log(
    `  metric labels: ${labelFlood.names.toLocaleString('en-US')} requests to random service names: gateway RSS ${labelFlood.rssBeforeMb.toFixed(1)} -> ${labelFlood.rssAfterMb.toFixed(1)} MB, ` +
      `synod_gateway_requests_total series ${labelFlood.seriesBefore} -> ${labelFlood.seriesAfter} (bounded: unknown services count under _unknown)`,
  );
  for (const n of notes) console.log(`  note: ${n}`);

  await mkdir(chartsDir, { recursive: true });
  for (const [strategy, r] of perStrategy) {
    const svg = latencyChart(`balancer-gateway ${strategy}: latency by percentile (${connections} connections${documented ? '' : ', short run'})`, [
      { name: 'healthy (5 workers)', color: '#1f77b4', latency: r.healthy },
      { name: `1 of 5 slow (+${slowMs} ms)`, color: '#d62728', latency: r.degraded },
      { name: 'raw NATS floor', color: '#7f7f7f', latency: fromHistogram(floor.histogram) },
    ]);
    await writeFile(join(chartsDir, `gateway-latency-${strategy}.svg`), svg);
  }
  console.log(`\ncharts: ${chartsDir}/gateway-latency-<strategy>.svg`);
  if (failures.length > 0) {
    console.error(`benchmark saw errors or no requests in: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
} finally {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await Promise.all(children.map((c) => c.stop()));
  await Promise.all(gateways.map((g) => stopChild(g.proc)));
  await Promise.all(apps.map((a) => a.stop(5000)));
  await nats.stop();
  await rm(workDir, { recursive: true, force: true });
}

function hdrRow(r: LoadResult): Row {
  const d: Distribution = fromHistogram(r.histogram);
  return { name: r.name, rps: r.requests / r.seconds, p50: d.at(50), p99: d.at(99), p999: d.at(99.9), maxMs: r.histogram.maxValue / 1000, requests: r.requests, errors: r.errors };
}

function printRows(all: Row[]): void {
  const header = ['', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'requests', 'errors'];
  const lines = all.map((r) => [r.name, r.rps.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2), r.p999.toFixed(2), r.maxMs.toFixed(2), String(r.requests), String(r.errors)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const cells = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)));
  console.log(`| ${cells(header).join(' | ')} |`);
  console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
  for (const l of lines) console.log(`| ${cells(l).join(' | ')} |`);
}

/** Requests naming `names` random services (all unknown): what they cost the gateway in memory and metric series. */
async function floodLabels(g: Gateway, pool: Pool, names: number) {
  const series = async () =>
    (await (await fetch(`${g.opsUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('synod_gateway_requests_total{')).length;
  const rssBeforeMb = (await readRss('gateway', g.pid)).rssMb;
  const seriesBefore = await series();
  const body = JSON.stringify({ message: 'bench' });
  let sent = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (sent < names) {
        const res = await pool.request({ method: 'POST', path: `/v1/services/flood-${(sent++).toString(36)}-${randomBytes(4).toString('hex')}/x`, headers: { 'content-type': 'application/json' }, body });
        await res.body.text();
        if (res.statusCode !== 404) throw new Error(`a request to an unknown service answered ${res.statusCode}`);
      }
    }),
  );
  return { names, rssBeforeMb, rssAfterMb: (await readRss('gateway', g.pid)).rssMb, seriesBefore, seriesAfter: await series() };
}

/** Moleculer 0.14 + moleculer-web 0.10, NATS transporter, round-robin over three echo nodes; the URL to POST to. */
async function startMoleculer(): Promise<string | undefined> {
  const dir = join(workspaceRoot, 'bench', 'gateway-moleculer');
  if (!existsSync(join(dir, 'node_modules', 'moleculer')) || !existsSync(join(dir, 'node_modules', 'moleculer-web'))) {
    notes.push('Moleculer skipped: not installed (npm ci --prefix bench/gateway-moleculer)');
    return undefined;
  }
  const script = join(dir, 'node.mjs');
  const env = { NATS_URL: nats.url, MOLECULER_NAMESPACE: `${namespace}-mol` };
  const nodes = await Promise.all([0, 1, 2].map((i) => startNode([script], { ...env, ROLE: 'echo', NODE_ID: `mol-echo-${i}` })));
  children.push(...nodes);
  const api = await startNode([script], { ...env, ROLE: 'api', NODE_ID: 'mol-api', PORT: '0' });
  children.push(api);
  const url = `http://127.0.0.1:${String(api.ready.port)}/api/sample/echo`;
  // Wait until the API node balances over all three echo nodes.
  const seen = new Set<string>();
  for (let i = 0; seen.size < 3; i++) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"message":"up"}' });
      if (res.status === 200) seen.add(((await res.json()) as { worker: string }).worker);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (i > 2000) throw new Error(`moleculer-web saw only ${[...seen].join(', ')}`);
  }
  return url;
}

/** nginx (Debian package), one worker process, round-robin over three HTTP echo servers; the URL to POST to. */
async function startNginxEchoes(): Promise<string | undefined> {
  const binary = findNginx();
  if (binary === undefined) {
    notes.push('nginx skipped: not installed (apt-get install -y nginx)');
    return undefined;
  }
  const echoes = await Promise.all(
    [0, 1, 2].map((i) => startNode(['--conditions=@synod/source', '--import', 'tsx', join(workspaceRoot, 'bench', 'gateway-http-echo.ts')], { WORKER_ID: `http${i}` })),
  );
  children.push(...echoes);
  const ng = await startNginx(binary, join(workDir, 'nginx'), echoes.map((e) => Number(e.ready.port)));
  stops.push(() => ng.stop());
  return `http://127.0.0.1:${ng.port}/sample/echo`;
}

/** Sends at a fixed rate regardless of answers (open loop) and records each request's latency. */
async function openLoop(name: string, perSecond: number, secs: number, send: () => Promise<void>): Promise<LoadResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let requests = 0;
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const t0 = process.hrtime.bigint();
  const total = Math.round(perSecond * secs);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - t0) / 1e9) * perSecond) + 1);
    for (; sent < due; sent++) {
      const start = process.hrtime.bigint();
      inFlight.push(
        send().then(
          () => {
            histogram.recordValue(Number((process.hrtime.bigint() - start) / 1000n));
            requests++;
          },
          () => {
            errors++;
          },
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  return { name, requests, errors, seconds: Number(process.hrtime.bigint() - t0) / 1e9, histogram };
}

