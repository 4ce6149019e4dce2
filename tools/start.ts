// `npm start`: the local stack. A NATS server (nats-server from PATH, else a container), three
// consensus replicas (data in .synod-data/, kept across runs), a lock-manager, the balancer-gateway on :8080 and
// three sample workers with weights 5, 1, 1, the console on :8081 (and the worker apps listed in tools/start-workers.json,
// which `nx g @synod/plugin:worker` adds to), logs pretty-printed. Ctrl-C stops everything. Set
// NATS_URL to use a server you already run (else one starts on NATS_PORT, default 4222), PORT to move
// the gateway, SYNOD_DATA to move the data, ENGINE=paxos to run the replicas on Multi-Paxos.
// Plaintext on loopback unless NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY are set (from
// tools/dev-certs): then the bus is TLS, the server requires a client certificate from that CA
// (its own is nats-1/ beside the CA), and every app connects with the given one.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import PinoPretty from 'pino-pretty';
import { APP_PROCESS_ENV, appScript, findNatsBinary, startNats, workspaceRoot } from '@synod/testkit';
import { z } from 'zod';

interface Spec {
  name: string;
  app: string;
  env: Record<string, string>;
}

const namespace = process.env.SYNOD_NAMESPACE ?? 'synod';
const port = process.env.PORT ?? '8080';
const consolePort = process.env.CONSOLE_PORT ?? '8081';
const pretty = PinoPretty({
  colorize: process.stdout.isTTY,
  translateTime: 'HH:MM:ss.l',
  ignore: 'pid,hostname,service,instance',
  messageFormat: '[{instance}] {msg}',
  singleLine: true,
  sync: true,
});

// The bus on the usual port, so synodctl and clients reach it with their defaults.
const nats = await startNats({ port: Number(process.env.NATS_PORT ?? 4222), args: tlsServerArgs() });
console.log(`NATS (${nats.source}${process.env.NATS_TLS_CA ? ', TLS with client certificates' : ''}) at ${nats.url}`);

/** nats-server's TLS flags when NATS_TLS_* is set: its certificate from tools/dev-certs' layout. */
function tlsServerArgs(): string[] {
  const ca = process.env.NATS_TLS_CA?.trim();
  if (!ca || process.env.NATS_URL?.trim()) return [];
  if (!findNatsBinary()) {
    console.error('npm start over TLS needs a nats-server on PATH (Debian/Ubuntu: apt-get install nats-server), or NATS_URL naming a TLS server of your own');
    process.exit(2);
  }
  const dir = join(dirname(ca), 'nats-1');
  if (!existsSync(join(dir, 'cert.pem'))) {
    console.error(`npm start over TLS starts its nats-server with ${dir}/cert.pem and key.pem (tools/dev-certs writes them); or set NATS_URL to a TLS server of your own`);
    process.exit(2);
  }
  return ['--tls', '--tlscert', join(dir, 'cert.pem'), '--tlskey', join(dir, 'key.pem'), '--tlscacert', ca, '--tlsverify'];
}

const dataRoot = process.env.SYNOD_DATA ?? join(workspaceRoot, '.synod-data');
const replicas = ['n1', 'n2', 'n3'];
// ENGINE=paxos runs the replicas on Multi-Paxos; its data lives apart (the two WAL formats differ).
const engine = process.env.ENGINE ?? 'raft';
const replicaDir = (id: string) => (engine === 'raft' ? join(dataRoot, id) : join(dataRoot, engine, id));
const specs: Spec[] = [
  ...replicas.map((id) => ({ name: id, app: 'consensus', env: { NODE_ID: id, PEERS: replicas.join(','), DATA_DIR: replicaDir(id), ENGINE: engine } })),
  { name: 'lock-manager', app: 'lock-manager', env: {} },
  { name: 'gateway', app: 'balancer-gateway', env: { PORT: port, HTTP_PORT: process.env.GATEWAY_HTTP_PORT ?? '9090' } },
  // Development: one admin whose password the console prints once in its ready line.
  { name: 'console', app: 'console', env: { CONSOLE_PORT: consolePort, CONSOLE_DEV: 'true' } },
  { name: 'worker-a', app: 'sample-worker', env: { WORKER_ID: 'worker-a', WORKER_WEIGHT: '5' } },
  { name: 'worker-b', app: 'sample-worker', env: { WORKER_ID: 'worker-b', WORKER_WEIGHT: '1' } },
  { name: 'worker-c', app: 'sample-worker', env: { WORKER_ID: 'worker-c', WORKER_WEIGHT: '1' } },
  ...generatedWorkers(),
];

/** Worker apps made with `nx g @synod/plugin:worker`, listed in tools/start-workers.json. */
function generatedWorkers(): Spec[] {
  const file = join(workspaceRoot, 'tools', 'start-workers.json');
  const list = z
    .object({ workers: z.array(z.object({ name: z.string().min(1), app: z.string().regex(/^[a-z][a-z0-9-]*$/), env: z.record(z.string(), z.string()).default({}) })) })
    .parse(JSON.parse(readFileSync(file, 'utf8')));
  return list.workers;
}

const children: ChildProcess[] = [];
let stopping = false;

function launch(spec: Spec): ChildProcess {
  const child = spawn(process.execPath, ['--enable-source-maps', appScript(spec.app)], {
    env: { ...APP_PROCESS_ENV, ...process.env, NATS_URL: nats.url, SYNOD_NAMESPACE: namespace, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: Ctrl-C reaches only this launcher, which then stops each app once, gracefully.
    detached: true,
  });
  createInterface({ input: child.stdout! }).on('line', (line) => pretty.write(`${line}\n`));
  createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[${spec.name}] ${line}\n`));
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${spec.name} exited (${code ?? signal}); stopping the stack`);
      void stop(1);
    }
  });
  return child;
}

async function stop(status: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  await nats.stop();
  process.exit(status);
}

process.on('SIGINT', () => void stop(0));
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
process.on('SIGTERM', () => void stop(0));

for (const spec of specs) children.push(launch(spec));
console.log(
  `\nSynod is starting: gateway on http://localhost:${port}\n` +
    `  curl -s -XPOST localhost:${port}/v1/services/sample/echo -H 'content-type: application/json' -d '{"message":"hi"}'\n` +
    `  curl -s localhost:${port}/v1/workers\n` +
    `  node apps/synodctl/dist/main.js kv put greeting hello && node apps/synodctl/dist/main.js kv get greeting\n` +
    `  node apps/synodctl/dist/main.js cluster status\n` +
    `  console: http://localhost:${consolePort} (user admin; the password is in the console's ready line, devAdmin)\n`,
);
