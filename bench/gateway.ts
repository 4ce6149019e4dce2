// `npm run bench:gateway [-- --quick] [--concurrency N] [--seconds S] [--workers W]`
//
// Requests/s and latency percentiles through the gateway (HTTP -> gateway -> NATS -> worker) at a
// fixed concurrency, and in the same run direct NATS request-reply to one worker: the floor any
// gateway on this bus pays. Prints both and their ratio.
import { connect } from '@nats-io/transport-node';
import { Pool } from 'undici';
import { subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { AppProcess, appScript, startNats, uniqueNamespace } from '@synod/testkit';
import { closedLoop, flag, machine, option, printTable } from './lib.js';

const quick = flag('quick');
const concurrency = option('concurrency', 32);
const seconds = option('seconds', quick ? 2 : 20);
const warmupSeconds = quick ? 0.5 : 3;
const workerCount = option('workers', 3);

const nats = await startNats();
const namespace = uniqueNamespace('bench');
const apps: AppProcess[] = [];
const common = { NATS_URL: nats.url, SYNOD_NAMESPACE: namespace, LOG_LEVEL: 'warn' };
try {
  const workers = await Promise.all(
    Array.from({ length: workerCount }, (_, i) =>
      AppProcess.start({ script: appScript('sample-worker'), env: { ...common, WORKER_ID: `bw${i}`, WORKER_WEIGHT: '1' } }),
    ),
  );
  apps.push(...workers.map((w) => w.app));
  const gw = await AppProcess.start({ script: appScript('balancer-gateway'), env: { ...common, PORT: '0', HOST: '127.0.0.1', LB_STRATEGY: 'round-robin' } });
  apps.push(gw.app);
  const base = `http://127.0.0.1:${String(gw.ready.port)}`;
  // The gateway's registry fills from announces: wait until it lists every worker.
  for (;;) {
    const res = await fetch(`${base}/v1/workers`);
    if (((await res.json()) as { workers: unknown[] }).workers.length === workerCount) break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const body = JSON.stringify({ message: 'bench' });
  const pool = new Pool(base, { connections: concurrency, pipelining: 1 });
  const viaGateway = async (): Promise<void> => {
    const res = await pool.request({ method: 'POST', path: '/v1/services/sample/echo', headers: { 'content-type': 'application/json' }, body });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  const nc = await connect({ servers: nats.url });
  const subject = subjects.workerEndpoint(namespace, 'sample', 'bw0', 'echo');
  let n = 0;
  const direct = async (): Promise<void> => {
    await busRequest(nc, subject, { message: 'bench' }, { timeoutMs: 10_000, requestId: `b${n++}` });
  };

  console.log(`bench:gateway ${quick ? '(quick) ' : ''}on ${machine()}`);
  console.log(`concurrency ${concurrency}, ${seconds} s per phase after ${warmupSeconds} s warm-up, ${workerCount} workers, endpoint echo\n`);
  await closedLoop('warm-up', concurrency, warmupSeconds, viaGateway);
  const g = await closedLoop('gateway (HTTP)', concurrency, seconds, viaGateway);
  await closedLoop('warm-up', concurrency, warmupSeconds, direct);
  const d = await closedLoop('direct NATS', concurrency, seconds, direct);
  printTable([g, d]);
  const rps = (r: typeof g) => r.requests / r.seconds;
  console.log(
    `\nratio gateway/direct: throughput ${(rps(g) / rps(d)).toFixed(2)}x, ` +
      `p50 ${(g.histogram.getValueAtPercentile(50) / d.histogram.getValueAtPercentile(50)).toFixed(2)}x, ` +
      `p99 ${(g.histogram.getValueAtPercentile(99) / d.histogram.getValueAtPercentile(99)).toFixed(2)}x`,
  );
  await pool.close();
  await nc.close();
  if (g.errors > 0 || d.errors > 0 || g.requests === 0 || d.requests === 0) {
    console.error('benchmark saw errors or no requests');
    process.exitCode = 1;
  }
} finally {
  await Promise.all(apps.map((a) => a.stop(5000)));
  await nats.stop();
}
