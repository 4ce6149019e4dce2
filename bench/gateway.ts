// `npm run bench:gateway [-- --quick] [--concurrency N] [--seconds S] [--slow-ms MS] [--rate R]`
//
// Through the gateway (HTTP -> balancer-gateway -> NATS -> worker), per strategy, closed loop:
// throughput and p50/p99/p99.9 with five healthy workers and with one of five slow. Beside it, in
// the same run: raw NATS request-reply to the workers (the floor), an open loop at a fixed rate
// (the gateway's added p50 over the floor), and — in full runs — Moleculer 0.14 + moleculer-web
// 0.10 over its NATS transporter and nginx round-robin over HTTP, each with the same echo job on
// three nodes, against the gateway with three workers. Writes one SVG latency-by-percentile chart
// per strategy (docs/ in full runs with the default settings, tmp/bench-charts/ otherwise).
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { AppProcess, appScript, startNats, uniqueNamespace, workspaceRoot } from '@synod/testkit';
import { latencyChart } from './gateway-chart.js';
import { readRss } from './kv-common.js';
import { findNginx, startNginx, startNode, type Child } from './gateway-procs.js';
import { benchArgs, closedLoop, machine, ms, printTable, type LoadResult } from './lib.js';

const cli = benchArgs('gateway', {
  concurrency: { type: 'number', help: 'closed-loop clients (64; quick 16)' },
  seconds: { type: 'number', help: 'seconds per case (10; quick 0.6)' },
  'slow-ms': { type: 'number', help: "the slow worker's added latency in ms (50)" },
  rate: { type: 'number', help: 'requests per second of the open-loop cases (1000)' },
});
const quick = cli.flag('quick');
const concurrency = cli.number('concurrency', quick ? 16 : 64);
const seconds = cli.number('seconds', quick ? 0.6 : 10);
const warmupSeconds = quick ? 0.3 : 2;
const slowMs = cli.number('slow-ms', 50);
const rate = cli.number('rate', 1000);
const STRATEGIES = ['round-robin', 'random', 'weighted', 'least-outstanding', 'p2c-ewma', 'consistent-hash'] as const;
// Only a full run with the documented settings replaces the charts in docs/.
const documented = !quick && !['seconds', 'concurrency', 'slow-ms', 'rate'].some((o) => cli.given(o));
const chartsDir = documented ? join(workspaceRoot, 'docs') : join(workspaceRoot, 'tmp', 'bench-charts');

const rows: LoadResult[] = [];
const notes: string[] = [];
const record = (r: LoadResult): LoadResult => {
  rows.push(r);
  console.log(`  ${r.name.padEnd(38)} ${(r.requests / r.seconds).toFixed(0).padStart(6)} req/s  p50 ${ms(r.histogram.getValueAtPercentile(50))}  p99 ${ms(r.histogram.getValueAtPercentile(99))} ms  errors ${r.errors}`);
  return r;
};

const nats = await startNats();
const namespace = uniqueNamespace('bench');
const apps: AppProcess[] = [];
const children: Child[] = [];
const stops: (() => Promise<void>)[] = [];
const common = { NATS_URL: nats.url, SYNOD_NAMESPACE: namespace, LOG_LEVEL: 'warn' };
try {
  console.log(`bench:gateway ${quick ? '(quick) ' : ''}on ${machine()}`);
  console.log(`closed loop: ${concurrency} connections, ${seconds} s per phase after ${warmupSeconds} s warm-up; echo endpoint; slow worker +${slowMs} ms\n`);
  const worker = (id: string, service: string, extra: Record<string, string> = {}) =>
    AppProcess.start({ script: appScript('sample-worker'), env: { ...common, WORKER_ID: id, WORKER_SERVICE: service, ...extra } });
  const started = await Promise.all([
    ...[0, 1, 2, 3, 4].map((i) => worker(`h${i}`, 'healthy')),
    ...[0, 1, 2, 3].map((i) => worker(`d${i}`, 'degraded')),
    worker('slow', 'degraded', { WORKER_EXTRA_LATENCY_MS: String(slowMs) }),
    ...(quick ? [] : [0, 1, 2].map((i) => worker(`t${i}`, 'three'))),
  ]);
  apps.push(...started.map((s) => s.app));
  const adminToken = randomBytes(24).toString('hex');
  const gw = await AppProcess.start({
    script: appScript('balancer-gateway'),
    env: { ...common, PORT: '0', HOST: '127.0.0.1', HTTP_PORT: '0', ADMIN_TOKEN: adminToken, LB_STRATEGY: 'round-robin' },
  });
  apps.push(gw.app);
  const base = `http://127.0.0.1:${String(gw.ready.port)}`;
  for (;;) {
    const res = await fetch(`${base}/v1/workers`);
    if (((await res.json()) as { workers: unknown[] }).workers.length === started.length) break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const body = JSON.stringify({ message: 'bench' });
  const pool = new Pool(base, { connections: concurrency, pipelining: 1 });
  stops.push(() => pool.close());
  let keyCounter = 0;
  const viaGateway = (service: string, keyed: boolean) => async (): Promise<void> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (keyed) headers['x-synod-key'] = `user-${(keyCounter++ * 7919) % 10_000}`;
    const res = await pool.request({ method: 'POST', path: `/v1/services/${service}/echo`, headers, body });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  const setStrategy = async (service: string, strategy: string): Promise<void> => {
    const res = await fetch(`http://127.0.0.1:${String(gw.ready.httpPort)}/v1/admin/services/${service}/strategy`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ strategy }),
    });
    if (res.status !== 200) throw new Error(`setting ${strategy} on ${service}: ${res.status} ${await res.text()}`);
  };

  /** Requests naming `names` random services (all unknown): what they cost the gateway in memory and metric series. */
  const floodLabels = async (names: number) => {
    const series = async () =>
      (await (await fetch(`http://127.0.0.1:${String(gw.ready.httpPort)}/metrics`)).text()).split('\n').filter((l) => l.startsWith('synod_gateway_requests_total{')).length;
    const rssBeforeMb = (await readRss('gateway', gw.app.pid)).rssMb;
    const seriesBefore = await series();
    let sent = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (sent < names) {
          const res = await pool.request({ method: 'POST', path: `/v1/services/flood-${(sent++).toString(36)}-${randomBytes(4).toString('hex')}/x`, headers: { 'content-type': 'application/json' }, body });
          await res.body.text();
          if (res.statusCode !== 404) throw new Error(`a request to an unknown service answered ${res.statusCode}`);
        }
      }),
    );
    return { names, rssBeforeMb, rssAfterMb: (await readRss('gateway', gw.app.pid)).rssMb, seriesBefore, seriesAfter: await series() };
  };

  const perStrategy = new Map<string, { healthy: LoadResult; degraded: LoadResult }>();
  console.log('through the gateway, per strategy (5 workers; degraded: 1 of the 5 slow):');
  for (const strategy of STRATEGIES) {
    await setStrategy('healthy', strategy);
    await setStrategy('degraded', strategy);
    const keyed = strategy === 'consistent-hash';
    await closedLoop('warm-up', concurrency, warmupSeconds, viaGateway('healthy', keyed));
    const healthy = record(await closedLoop(`${strategy} healthy`, concurrency, seconds, viaGateway('healthy', keyed)));
    // Warm-up on the degraded service lets the latency-aware strategies learn; the slow worker stays slow.
    await closedLoop('warm-up', concurrency, warmupSeconds, viaGateway('degraded', keyed));
    const degraded = record(await closedLoop(`${strategy} 1 of 5 slow`, concurrency, seconds, viaGateway('degraded', keyed)));
    perStrategy.set(strategy, { healthy, degraded });
  }

  // The floor: raw NATS request-reply to the same workers, rotating over them.
  const nc = await connect({ servers: nats.url });
  stops.push(() => nc.close());
  const direct = (ids: string[], service: string) => {
    const subs = ids.map((id) => subjects.workerEndpoint(namespace, service, id, 'echo'));
    let n = 0;
    return async (): Promise<void> => {
      await busRequest(nc, subs[n++ % subs.length]!, { message: 'bench' }, { timeoutMs: 10_000, requestId: `b${n}` });
    };
  };
  console.log('\nfloor and comparison:');
  await closedLoop('warm-up', concurrency, warmupSeconds, direct(['h0', 'h1', 'h2', 'h3', 'h4'], 'healthy'));
  const floor = record(await closedLoop('raw NATS request-reply (5 workers)', concurrency, seconds, direct(['h0', 'h1', 'h2', 'h3', 'h4'], 'healthy')));

  // Added latency at a fixed, moderate rate (open loop).
  await setStrategy('healthy', 'p2c-ewma');
  const openSeconds = quick ? 1 : 10;
  const gwOpen = record(await openLoop(`gateway p2c-ewma at ${rate} req/s`, rate, openSeconds, viaGateway('healthy', false)));
  const natsOpen = record(await openLoop(`raw NATS at ${rate} req/s`, rate, openSeconds, direct(['h0', 'h1', 'h2', 'h3', 'h4'], 'healthy')));

  let synod3: LoadResult | undefined;
  let moleculer: LoadResult | undefined;
  let nginx: LoadResult | undefined;
  if (quick) {
    notes.push('quick: Moleculer and nginx skipped (full runs only)');
  } else {
    await setStrategy('three', 'round-robin');
    await closedLoop('warm-up', concurrency, warmupSeconds, viaGateway('three', false));
    synod3 = record(await closedLoop('synod gateway round-robin (3 workers)', concurrency, seconds, viaGateway('three', false)));
    moleculer = await runMoleculer();
    nginx = await runNginx();
  }
  const labelFlood = await floodLabels(quick ? 2000 : 100_000);
  await pool.close();

  console.log('');
  printTable(rows, { percentiles: [50, 99, 99.9], markdown: true });
  const p = (r: LoadResult, q: number) => r.histogram.getValueAtPercentile(q) / 1000;
  const rps = (r: LoadResult) => r.requests / r.seconds;
  console.log('\ntargets:');
  const p2c = perStrategy.get('p2c-ewma')!;
  console.log(`  p2c-ewma, 1 of 5 slow: p99 ${p(p2c.degraded, 99).toFixed(2)} ms vs healthy ${p(p2c.healthy, 99).toFixed(2)} ms = ${(p(p2c.degraded, 99) / p(p2c.healthy, 99)).toFixed(2)}x (target <= 3x)`);
  const rr = perStrategy.get('round-robin')!;
  console.log(`  round-robin, 1 of 5 slow: p99 ${p(rr.degraded, 99).toFixed(2)} ms vs healthy ${p(rr.healthy, 99).toFixed(2)} ms = ${(p(rr.degraded, 99) / p(rr.healthy, 99)).toFixed(2)}x (for reference)`);
  console.log(`  added p50 at ${rate} req/s: ${(p(gwOpen, 50) - p(natsOpen, 50)).toFixed(3)} ms over raw NATS (target <= 0.5 ms)`);
  console.log(`  gateway/raw NATS throughput at ${concurrency} connections: ${(rps(perStrategy.get('round-robin')!.healthy) / rps(floor)).toFixed(2)}x`);
  if (synod3 && moleculer) {
    console.log(
      `  vs Moleculer (3 nodes): throughput ${rps(synod3).toFixed(0)} vs ${rps(moleculer).toFixed(0)} req/s, p99 ${p(synod3, 99).toFixed(2)} vs ${p(moleculer, 99).toFixed(2)} ms (target: >= throughput, lower p99)`,
    );
  }
  if (synod3 && nginx) console.log(`  nginx over HTTP (3 upstreams): ${(rps(nginx) / rps(synod3)).toFixed(2)}x the gateway's throughput`);
  console.log(
    `  metric labels: ${labelFlood.names.toLocaleString('en-US')} requests to random service names: gateway RSS ${labelFlood.rssBeforeMb.toFixed(1)} -> ${labelFlood.rssAfterMb.toFixed(1)} MB, ` +
      `synod_gateway_requests_total series ${labelFlood.seriesBefore} -> ${labelFlood.seriesAfter} (bounded: unknown services count under _unknown)`,
  );
  for (const n of notes) console.log(`  note: ${n}`);

  await mkdir(chartsDir, { recursive: true });
  for (const [strategy, r] of perStrategy) {
    const svg = latencyChart(`balancer-gateway ${strategy}: latency by percentile (${concurrency} connections${documented ? '' : ', short run'})`, [
      { name: 'healthy (5 workers)', color: '#1f77b4', histogram: r.healthy.histogram },
      { name: `1 of 5 slow (+${slowMs} ms)`, color: '#d62728', histogram: r.degraded.histogram },
      { name: 'raw NATS floor', color: '#7f7f7f', histogram: floor.histogram },
    ]);
    await writeFile(join(chartsDir, `gateway-latency-${strategy}.svg`), svg);
  }
  console.log(`\ncharts: ${chartsDir}/gateway-latency-<strategy>.svg`);

  const failed = rows.filter((r) => r.requests === 0 || (r.errors > 0 && !r.name.startsWith('Moleculer') && !r.name.startsWith('nginx')));
  if (failed.length > 0) {
    console.error(`benchmark saw errors or no requests in: ${failed.map((r) => r.name).join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await Promise.all(children.map((c) => c.stop()));
  await Promise.all(apps.map((a) => a.stop(5000)));
  await nats.stop();
}

/** Moleculer 0.14 + moleculer-web 0.10, NATS transporter, round-robin over three echo nodes. */
async function runMoleculer(): Promise<LoadResult | undefined> {
  const dir = join(workspaceRoot, 'bench', 'gateway-moleculer');
  if (!existsSync(join(dir, 'node_modules', 'moleculer')) || !existsSync(join(dir, 'node_modules', 'moleculer-web'))) {
    notes.push('Moleculer skipped: not installed (npm install --prefix bench/gateway-moleculer)');
    return undefined;
  }
  const script = join(dir, 'node.mjs');
  const env = { NATS_URL: nats.url, MOLECULER_NAMESPACE: `${namespace}-mol` };
  const nodes = await Promise.all([0, 1, 2].map((i) => startNode([script], { ...env, ROLE: 'echo', NODE_ID: `mol-echo-${i}` })));
  children.push(...nodes);
  const api = await startNode([script], { ...env, ROLE: 'api', NODE_ID: 'mol-api', PORT: '0' });
  children.push(api);
  const url = `http://127.0.0.1:${String(api.ready.port)}`;
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const body = JSON.stringify({ message: 'bench' });
  const send = async (): Promise<string> => {
    const res = await pool.request({ method: 'POST', path: '/api/sample/echo', headers: { 'content-type': 'application/json' }, body });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${text}`);
    return (JSON.parse(text) as { worker: string }).worker;
  };
  // Wait until the API node balances over all three echo nodes.
  const seen = new Set<string>();
  for (let i = 0; seen.size < 3; i++) {
    try {
      seen.add(await send());
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (i > 2000) throw new Error(`moleculer-web saw only ${[...seen].join(', ')}`);
  }
  await closedLoop('warm-up', concurrency, warmupSeconds, async () => void (await send()));
  const r = record(await closedLoop('Moleculer + moleculer-web (3 nodes)', concurrency, seconds, async () => void (await send())));
  await pool.close();
  return r;
}

/** nginx (Debian package) round-robin over three HTTP echo servers. */
async function runNginx(): Promise<LoadResult | undefined> {
  const binary = findNginx();
  if (binary === undefined) {
    notes.push('nginx skipped: not installed (apt-get install -y nginx)');
    return undefined;
  }
  const echoes = await Promise.all(
    [0, 1, 2].map((i) => startNode(['--conditions=@synod/source', '--import', 'tsx', join(workspaceRoot, 'bench', 'gateway-http-echo.ts')], { WORKER_ID: `http${i}` })),
  );
  children.push(...echoes);
  const ng = await startNginx(binary, join(workspaceRoot, 'tmp', `bench-nginx-${process.pid}`), echoes.map((e) => Number(e.ready.port)));
  stops.push(() => ng.stop());
  const pool = new Pool(`http://127.0.0.1:${ng.port}`, { connections: concurrency, pipelining: 1 });
  const body = JSON.stringify({ message: 'bench' });
  const send = async (): Promise<void> => {
    const res = await pool.request({ method: 'POST', path: '/sample/echo', headers: { 'content-type': 'application/json' }, body });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  await closedLoop('warm-up', concurrency, warmupSeconds, send);
  const r = record(await closedLoop('nginx round-robin over HTTP (3 nodes)', concurrency, seconds, send));
  await pool.close();
  return r;
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

