import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createCa, issueClientCertificate } from '@synod/dev-pki';
import { LockClient } from '@synod/locks';
import { inboxPrefixFor, subjects } from '@synod/protocol';
import { freePort } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITIES, STACK_SERVICES, orphanedProjects, projectResources, repoRoot, stackImages, stackReadiness, type IdentityName } from '../src/index.js';

/**
 * The whole stack of docker-compose.yml in containers, driven like a user would: jobs through the
 * gateway on a published port, locks and the store through their clients and synodctl from the
 * host, faults with `docker kill`, `docker pause` and `docker stop`. One stack serves the file; each
 * test puts back what it disturbed (in `finally`), and the stack is removed with its network and
 * volumes at the end, failure or not. The images are built from the host's bundles (the suite
 * depends on the apps' build) on the base images named by NODE_IMAGE/NATS_IMAGE, as compose does.
 */

const run = promisify(execFile);
const CI = process.env.CI === 'true' || process.env.CI === '1';
const images = stackImages();
const readiness = stackReadiness(images);

// Multi-token namespace: the NATS permissions must follow SYNOD_NAMESPACE, not assume `synod`.
const NS = 'e2e.synod';
const PROJECT_PREFIX = 'synod-e2e-';
const PROJECT = `${PROJECT_PREFIX}${process.pid}-${Date.now().toString(36)}`;
const TAG = `e2e-${process.pid}`;
const WEIGHTS: Record<string, number> = { 'worker-a': 3, 'worker-b': 2 };
/** The gateway's default WORKER_EXPIRY_MS: a silent worker leaves the registry after this. */
const WORKER_EXPIRY_MS = 3000;
const SYNODCTL = join(repoRoot, 'apps', 'synodctl', 'dist', 'main.js');
/** Where the certs service writes the CLI's certificate, key and CA (the README's tmp/certs/synodctl, per project here). */
const CLI_CERTS = join('tmp', 'certs', PROJECT);
/** The stack's certificates volume, copied out of the certs container, for the test's own clients. */
let certs: string;

interface Ports {
  GATEWAY_PORT: number;
  GATEWAY_OPS_PORT: number;
  CONSOLE_PORT: number;
  NATS_PORT: number;
  NATS_PORT_2: number;
  NATS_PORT_3: number;
  NATS_MONITOR_PORT: number;
  NATS_MONITOR_PORT_2: number;
  NATS_MONITOR_PORT_3: number;
}

let ports: Ports;
let natsUrls: string;
const monitorPort = (node: 1 | 2 | 3) => [ports.NATS_MONITOR_PORT, ports.NATS_MONITOR_PORT_2, ports.NATS_MONITOR_PORT_3][node - 1]!;
const container = (service: string) => `${PROJECT}-${service}-1`;

function composeEnv(): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(ports ?? {}).map(([k, v]) => [k, String(v)])),
    COMPOSE_PROJECT_NAME: PROJECT,
    SYNOD_NAMESPACE: NS,
    // `ENGINE=paxos npm run test:containers` runs the same suite on Multi-Paxos.
    ENGINE: process.env.ENGINE?.trim() || 'raft',
    // Images of this run only: another checkout's suite on the same engine builds its own.
    SYNOD_TAG: TAG,
    // The images copy the bundles the build just made; no registry needed.
    SYNOD_DOCKERFILE: 'infra/docker/Dockerfile',
    NODE_IMAGE: images.NODE_IMAGE,
    NATS_IMAGE: images.NATS_IMAGE,
    // Faults stay until the test undoes them: no restart policy.
    SYNOD_RESTART: 'no',
    SYNOD_HEALTHCHECK_INTERVAL: '1s',
    SYNOD_CLI_CERTS: CLI_CERTS,
    LOG_LEVEL: 'warn',
  };
}

function compose(args: string[], timeoutMs = 120_000, project = PROJECT) {
  const r = spawnSync('docker', ['compose', '-f', join(repoRoot, 'docker-compose.yml'), '-p', project, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...composeEnv() },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`docker compose ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: 60_000 });
  return stdout.trim();
}

/**
 * `docker pause`, tried again when the cgroup (v1) freezer reports "unable to freeze": it gives up
 * when a process of the container sits in an uninterruptible state at that instant (a disk write on
 * a busy host), and a moment later it succeeds. The container is paused for real either way.
 */
async function pause(name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await docker('pause', name);
      return;
    } catch (err) {
      if (attempt >= 5 || !String(err).includes('unable to freeze')) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** synodctl on the host as the README runs it: the CLI's certificate from the certs service's copy in the clone. */
async function synodctl(...args: string[]): Promise<unknown> {
  const cli = join(repoRoot, CLI_CERTS);
  const { stdout } = await run(process.execPath, [SYNODCTL, '--json', ...args], {
    timeout: 60_000,
    env: {
      ...process.env,
      NATS_URL: natsUrls,
      SYNOD_NAMESPACE: NS,
      NATS_USER: 'synodctl',
      NATS_TLS_CA: join(cli, 'ca.pem'),
      NATS_TLS_CERT: join(cli, 'cert.pem'),
      NATS_TLS_KEY: join(cli, 'key.pem'),
    },
  });
  return stdout.trim() === '' ? undefined : JSON.parse(stdout);
}

type TlsFiles = { caFile: string; certFile?: string; keyFile?: string };
const identityFiles = (user: string): TlsFiles => ({ caFile: join(certs, 'ca.pem'), certFile: join(certs, user, 'cert.pem'), keyFile: join(certs, user, 'key.pem') });

/**
 * A connection as one of the stack's identities (its client certificate), with that user's own
 * inbox prefix (`_INBOX.<user>`), as the apps connect. A refused TLS handshake surfaces in nats.js
 * only as the connect timeout.
 */
async function natsAs(user: IdentityName, inboxPrefix = inboxPrefixFor(user), tls = identityFiles(user), timeoutMs = 5000): Promise<NatsConnection> {
  return connect({ servers: natsUrls.split(','), name: `e2e/${user}`, timeout: timeoutMs, maxReconnectAttempts: 0, inboxPrefix, tls });
}

/** Polls until `probe` returns a value other than undefined (errors count as not yet). */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface WorkerView {
  id: string;
  service: string;
  weight: number;
}

async function gatewayWorkers(): Promise<WorkerView[]> {
  const res = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/v1/workers`, { signal: AbortSignal.timeout(5000) });
  // Workers of other services (added with the worker generator) are not part of these checks.
  return ((await res.json()) as { workers: WorkerView[] }).workers.filter((w) => w.service === 'sample');
}

/** Sends `n` echo jobs one after another; returns how many each worker served. */
async function sendJobs(n: number): Promise<Record<string, number>> {
  const served: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/v1/services/sample/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: `job-${i}` }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as { message?: string; worker?: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.message).toBe(`job-${i}`);
    const worker = res.headers.get('x-synod-worker') ?? body.worker ?? '?';
    served[worker] = (served[worker] ?? 0) + 1;
  }
  return served;
}

/** Waits until the registry holds exactly these worker ids. */
async function registryIs(ids: string[], timeoutMs: number): Promise<WorkerView[]> {
  const want = [...ids].sort().join(',');
  return until(`the gateway's registry to be [${want}]`, timeoutMs, async () => {
    const workers = await gatewayWorkers();
    return workers.map((w) => w.id).sort().join(',') === want ? workers : undefined;
  });
}

/** Every worker serves in proportion to its weight: whole rounds of smooth weighted round-robin. */
async function expectWeightedShares(workers: WorkerView[], rounds: number): Promise<void> {
  const total = workers.reduce((s, w) => s + w.weight, 0);
  const served = await sendJobs(total * rounds);
  expect(served).toEqual(Object.fromEntries(workers.map((w) => [w.id, w.weight * rounds])));
}

let scalableWorker: string;
const allWorkers = () => ['worker-a', 'worker-b', scalableWorker];

interface ClusterView {
  engine: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  members: { id: string; role: string; appliedIndex?: number }[];
}

async function connz(node: 1 | 2 | 3): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${monitorPort(node)}/connz?limit=1024`, { signal: AbortSignal.timeout(3000) });
  const body = (await res.json()) as { connections?: { name?: string }[] };
  return (body.connections ?? []).map((c) => c.name ?? '').filter((n) => n !== '' && !n.startsWith('e2e/') && n !== 'synodctl');
}

if (!readiness.ok) {
  if (CI) {
    describe('the stack in containers', () => {
      it('needs a Docker engine, Compose v2 and the base images (CI=true makes their absence a failure)', () => {
        throw new Error(readiness.reason);
      });
    });
  } else {
    console.warn(`stack-e2e: container suite skipped: ${readiness.reason}`);
    describe.skip('the stack in containers (skipped: see the message above)', () => {
      it('runs when a Docker engine is here', () => undefined);
    });
  }
} else {
  describe('the stack in containers', () => {
    let downDone = false;

    beforeAll(async () => {
      // A run killed before its clean-up left its stack behind: remove it now.
      for (const stale of orphanedProjects(PROJECT_PREFIX)) compose(['down', '-v', '--remove-orphans', '--timeout', '0'], 120_000, stale);
      const picked = await Promise.all(Array.from({ length: 9 }, () => freePort()));
      ports = {
        GATEWAY_PORT: picked[0]!,
        GATEWAY_OPS_PORT: picked[1]!,
        NATS_PORT: picked[2]!,
        NATS_PORT_2: picked[3]!,
        NATS_PORT_3: picked[4]!,
        NATS_MONITOR_PORT: picked[5]!,
        NATS_MONITOR_PORT_2: picked[6]!,
        NATS_MONITOR_PORT_3: picked[7]!,
        CONSOLE_PORT: picked[8]!,
      };
      natsUrls = [ports.NATS_PORT, ports.NATS_PORT_2, ports.NATS_PORT_3].map((p) => `nats://127.0.0.1:${p}`).join(',');
      const t0 = Date.now();
      // The app images: built here, from the bundles, on the local base images.
      compose(['build', '--quiet']);
      const t1 = Date.now();
      // testcontainers runs `docker compose up` and waits for each container: the apps by their
      // HEALTHCHECK (node probing /readyz), NATS (a binary-only image) by its ready line, the certs
      // one-shot by its exit.
      const { DockerComposeEnvironment, Wait } = await import('testcontainers');
      let env = new DockerComposeEnvironment(repoRoot, 'docker-compose.yml')
        .withProjectName(PROJECT)
        .withEnvironment(composeEnv())
        .withDefaultWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(90_000);
      for (const n of ['nats-1-1', 'nats-2-1', 'nats-3-1']) env = env.withWaitStrategy(n, Wait.forLogMessage('Server is ready'));
      // The certs service runs once and exits 0 before the NATS nodes start.
      env = env.withWaitStrategy('certs-1', Wait.forOneShotStartup());
      await env.up();
      const t2 = Date.now();
      // The scalable worker has a random id; the gateway sees all three once they have announced.
      const workers = await until('three workers in the registry', 30_000, async () => {
        const ws = await gatewayWorkers();
        return ws.length === 3 ? ws : undefined;
      });
      scalableWorker = workers.find((w) => !(w.id in WEIGHTS))!.id;
      certs = mkdtempSync(join(tmpdir(), 'synod-e2e-certs-'));
      await docker('cp', `${container('certs')}:/certs/.`, certs);
      console.log(`stack-e2e: images built in ${t1 - t0} ms, stack healthy in ${t2 - t1} ms (project ${PROJECT})`);
    });

    afterAll(() => {
      // Whatever happened above: no container, network or volume of this project stays.
      if (!downDone) compose(['down', '-v', '--remove-orphans', '--timeout', '0']);
      const built = spawnSync('docker', ['images', '--filter', `reference=synod/*:${TAG}`, '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' }).stdout.split('\n').filter((i) => i !== '');
      if (built.length > 0) spawnSync('docker', ['rmi', ...built], { encoding: 'utf8' });
      if (certs) rmSync(certs, { recursive: true, force: true });
      rmSync(join(repoRoot, CLI_CERTS), { recursive: true, force: true });
    });

    it('runs the bus on TLS: every service connection is encrypted and mapped to its own identity', async () => {
      const users = new Map<string, Set<string>>();
      for (const node of [1, 2, 3] as const) {
        const res = await fetch(`http://127.0.0.1:${monitorPort(node)}/connz?auth=true&limit=1024`, { signal: AbortSignal.timeout(3000) });
        for (const c of ((await res.json()) as { connections?: { name?: string; tls_version?: string; authorized_user?: string }[] }).connections ?? []) {
          expect(c.tls_version, c.name).toMatch(/^1\.[23]$/);
          const app = (c.name ?? '').split('/')[0]!;
          users.set(app, (users.get(app) ?? new Set()).add(c.authorized_user ?? ''));
        }
      }
      expect(Object.fromEntries([...users].filter(([app]) => app !== 'e2e').map(([app, u]) => [app, [...u]]))).toEqual({
        consensus: [IDENTITIES.consensus],
        'lock-manager': [IDENTITIES['lock-manager']],
        'balancer-gateway': [IDENTITIES.gateway],
        'sample-worker': [IDENTITIES.sample],
        console: [IDENTITIES.console],
      });
    });

    it('refuses a plaintext client and a client certificate from another CA', async () => {
      // Plaintext: the node announces TLS as required and drops a client that speaks in the clear.
      const plain = tcpConnect(ports.NATS_PORT, '127.0.0.1');
      let heard = '';
      plain.on('data', (d: Buffer) => {
        if (heard === '') plain.write('CONNECT {"verbose":false}\r\nPING\r\n');
        heard += d.toString();
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the plaintext client was not dropped; it heard ${heard}`)), 10_000);
        plain.on('close', () => (clearTimeout(timer), resolve()));
        plain.on('error', () => undefined);
      });
      expect(heard).toMatch(/^INFO .*"tls_required":true/);
      expect(heard).not.toContain('PONG');

      // The CLI's own subject, signed by a CA the stack does not trust.
      const stranger = await issueClientCertificate(await createCa({ now: new Date(), validityDays: 2, subject: 'CN=Elsewhere,O=Synod' }), {
        now: new Date(),
        validityDays: 1,
        subject: IDENTITIES.synodctl,
      });
      writeFileSync(join(certs, 'stranger-cert.pem'), stranger.cert);
      writeFileSync(join(certs, 'stranger-key.pem'), stranger.key);
      const strangerFiles = { caFile: join(certs, 'ca.pem'), certFile: join(certs, 'stranger-cert.pem'), keyFile: join(certs, 'stranger-key.pem') };
      await expect(natsAs('synodctl', inboxPrefixFor('synodctl'), strangerFiles, 1000)).rejects.toThrow();
      // The genuine certificate of that subject connects: the refusal is the CA's.
      await (await natsAs('synodctl')).close();
    });

    it('serves jobs through the gateway from every worker, in proportion to its weight', async () => {
      const workers = await registryIs(allWorkers(), 10_000);
      expect(Object.fromEntries(workers.map((w) => [w.id, w.weight]))).toEqual({ ...WEIGHTS, [scalableWorker]: 1 });
      // 10 rounds of 3+2+1, sent one after another: smooth weighted round-robin is exact per round.
      await expectWeightedShares(workers, 10);
    });

    it('gives a fencing token for a lock taken through the lock manager, and a larger one to the next holder', async () => {
      const nc = await natsAs('synodctl');
      try {
        const locks = new LockClient({ nc, namespace: NS, timeoutMs: 20_000 });
        const first = await locks.acquire('e2e.orders', { ttlMs: 10_000, timeoutMs: 20_000 });
        expect(first.token).toBeGreaterThan(0);
        // Exclusive while held.
        await expect(locks.tryAcquire('e2e.orders', { ttlMs: 10_000 })).rejects.toMatchObject({ code: 'TIMEOUT' });
        expect(await first.release()).toBe(true);
        const second = await locks.acquire('e2e.orders', { ttlMs: 10_000, timeoutMs: 20_000 });
        expect(second.token).toBeGreaterThan(first.token);
        await second.release();
      } finally {
        await nc.close();
      }
    });

    it('answers through synodctl on the host with the copy of its certificate in the clone: put, get, cluster status', async () => {
      // The certs service (root in its container) left the copy to the clone's owner.
      const owner = statSync(repoRoot).uid;
      for (const file of ['ca.pem', 'cert.pem', 'key.pem']) expect([file, statSync(join(repoRoot, CLI_CERTS, file)).uid]).toEqual([file, owner]);
      await synodctl('kv', 'put', 'e2e/config', 'hello');
      const got = (await synodctl('kv', 'get', 'e2e/config')) as { kvs?: { key: string; value: string }[] } | { key: string; value: string };
      expect(JSON.stringify(got)).toContain('"hello"');
      const status = (await synodctl('cluster', 'status')) as ClusterView;
      expect(status.engine).toBe(composeEnv().ENGINE);
      expect(status.leader).toMatch(/^n[123]$/);
      expect(status.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
      expect(status.members.filter((m) => m.role === 'leader').map((m) => m.id)).toEqual([status.leader]);
      expect(status.members.filter((m) => m.role === 'follower')).toHaveLength(2);
    });

    it("refuses a worker's identity on the consensus peer subjects and the store API", async () => {
      const worker = await natsAs('sample');
      const replica = await natsAs('consensus');
      const refused: string[] = [];
      void (async () => {
        for await (const s of worker.status()) if (s.type === 'error') refused.push(String(s.error));
      })();
      try {
        const probe = subjects.peer(NS, 'e2e-probe');
        const heard: string[] = [];
        replica.subscribe(probe, { callback: (_err, msg) => void heard.push(msg.string()) });
        await replica.flush();
        // A worker forging a peer message: refused by the server, never delivered.
        worker.publish(probe, 'forged');
        worker.publish(subjects.peer(NS, 'n1'), 'forged');
        // Its own service's subjects are fine.
        worker.publish(subjects.workerEndpoint(NS, 'sample', 'e2e-probe', 'echo'), '{}');
        await worker.flush();
        await expect(worker.request(subjects.kvLeader(NS), '{}', { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
        replica.publish(probe, 'genuine');
        await replica.flush();
        await until('the genuine peer message', 5000, async () => (heard.includes('genuine') ? true : undefined));
        expect(heard).toEqual(['genuine']);
        expect(refused.filter((e) => e.includes(`Publish to "${probe}"`))).toHaveLength(1);
        expect(refused.filter((e) => e.includes(`Publish to "${subjects.peer(NS, 'n1')}"`))).toHaveLength(1);
        expect(refused.filter((e) => e.includes('.svc.sample.'))).toEqual([]);
      } finally {
        await worker.close();
        await replica.close();
      }
    });

    it("refuses a user's subscription on another user's inbox, and a request whose replies would go outside its own prefix", async () => {
      const worker = await natsAs('sample');
      const refused: string[] = [];
      void (async () => {
        for await (const s of worker.status()) if (s.type === 'error') refused.push(String(s.error));
      })();
      // nats.js's default inbox prefix, as a client that ignores its user's prefix would use.
      const careless = await natsAs('synodctl', '_INBOX');
      try {
        const heard: string[] = [];
        // The refusal reaches this callback as an error; a message would be a leak.
        worker.subscribe('_INBOX.synodctl.>', { callback: (err, msg) => void (err ? undefined : heard.push(msg.subject)) });
        await worker.flush();
        await until('the refusal of the subscription', 5000, async () => (refused.some((e) => e.includes('Subscription to "_INBOX.synodctl.>"')) ? true : undefined));
        // synodctl's own traffic goes on, unheard by the worker.
        await synodctl('kv', 'put', 'e2e/inbox-probe', 'x');
        expect(heard).toEqual([]);
        // A client that does not use its prefix cannot even receive its replies.
        await expect(careless.request(subjects.kvLeader(NS), '{}', { timeout: 2000 })).rejects.toThrow();
      } finally {
        await worker.close();
        await careless.close();
      }
    });

    it('serves the console behind a login: the development admin from its ready line sees three members', async () => {
      const base = `http://127.0.0.1:${ports.CONSOLE_PORT}`;
      const page = await fetch(base);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('/assets/app.js');
      expect((await fetch(`${base}/api/cluster`)).status).toBe(401);
      const logs = await docker('logs', container('console'));
      const ready = logs.split('\n').map((l) => { try { return JSON.parse(l) as { msg?: string; devAdmin?: { user: string; generatedPassword: string } }; } catch { return {}; } }).findLast((l) => l.msg === 'ready');
      // The last start's admin (a container restarted by its policy starts with a new password).
      expect(ready?.devAdmin?.user).toBe('admin');
      const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: ready!.devAdmin!.generatedPassword }) });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const cluster = (await (await fetch(`${base}/api/cluster`, { headers: { cookie } })).json()) as { leader: string; members: { id: string }[] };
      expect(cluster.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
      expect(cluster.leader).toMatch(/^n[123]$/);
    });

    it('stops routing to a paused worker container and routes to it again once unpaused', async () => {
      await pause(container('sample-worker-a'));
      try {
        const left = await registryIs(['worker-b', scalableWorker], WORKER_EXPIRY_MS * 5);
        await expectWeightedShares(left, 5);
      } finally {
        await docker('unpause', container('sample-worker-a'));
      }
      const back = await registryIs(allWorkers(), WORKER_EXPIRY_MS * 5);
      await expectWeightedShares(back, 5);
    });

    it('keeps serving when one NATS node stops: every service reconnects to the others', async () => {
      // The node with the most service connections (at least a third of them, by pigeonhole).
      const byNode = await Promise.all(([1, 2, 3] as const).map(async (n) => ({ n, names: await connz(n) })));
      const all = byNode.flatMap((b) => b.names).sort();
      const victim = [...byNode].sort((a, b) => b.names.length - a.names.length)[0]!;
      expect(victim.names.length).toBeGreaterThan(0);
      const others = byNode.filter((b) => b.n !== victim.n).map((b) => b.n);
      await docker('stop', '--time', '5', container(`nats-${victim.n}`));
      try {
        // Every service that was on the stopped node is connected to one of the others.
        await until(`the clients of nats-${victim.n} (${victim.names.join(', ')}) on the other nodes`, 30_000, async () => {
          const now = (await Promise.all(others.map((n) => connz(n)))).flat().sort();
          return JSON.stringify(now) === JSON.stringify(all) ? true : undefined;
        });
        const workers = await registryIs(allWorkers(), WORKER_EXPIRY_MS * 5);
        await expectWeightedShares(workers, 3);
        await synodctl('kv', 'put', 'e2e/after-nats-stop', 'ok');
        const nc = await natsAs('synodctl');
        try {
          const lock = await new LockClient({ nc, namespace: NS, timeoutMs: 20_000 }).acquire('e2e.after-nats-stop', { ttlMs: 10_000, timeoutMs: 20_000 });
          expect(lock.token).toBeGreaterThan(0);
          await lock.release();
        } finally {
          await nc.close();
        }
      } finally {
        await docker('start', container(`nats-${victim.n}`));
      }
      await until(`nats-${victim.n} back`, 30_000, async () => ((await connz(victim.n)) ? true : undefined));
    });

    it('resumes writes on a new leader when the leader container is killed, and the restarted replica catches up', async () => {
      const before = (await synodctl('cluster', 'status')) as ClusterView;
      const old = before.leader!;
      const service = `consensus-${old.slice(1)}`;
      await docker('kill', container(service));
      try {
        // The client retries until a new leader answers.
        await synodctl('--timeout', '30000', 'kv', 'put', 'e2e/after-kill', 'v1');
        const after = (await synodctl('cluster', 'status')) as ClusterView;
        expect(after.leader).not.toBe(old);
        expect(after.term).toBeGreaterThan(before.term);
        expect(after.members.find((m) => m.id === old)?.role).toBe('unreachable');
        await synodctl('kv', 'put', 'e2e/after-kill-2', 'v2');
      } finally {
        await docker('start', container(service));
      }
      // Back, it follows the new leader and applies everything committed meanwhile.
      const target = ((await synodctl('cluster', 'status')) as ClusterView).commitIndex;
      const caught = await until(`${old} to catch up to index ${target}`, 45_000, async () => {
        const s = (await synodctl('cluster', 'status')) as ClusterView;
        const m = s.members.find((x) => x.id === old);
        return m && m.role === 'follower' && (m.appliedIndex ?? 0) >= target ? s : undefined;
      });
      expect(caught.leader).not.toBeNull();
      const got = await synodctl('kv', 'get', 'e2e/after-kill-2');
      expect(JSON.stringify(got)).toContain('"v2"');
    });

    it('leaves no container, network or volume behind after `docker compose down -v`', async () => {
      const made = projectResources(PROJECT);
      expect(made.containers).toEqual(expect.arrayContaining(STACK_SERVICES.map((s) => container(s))));
      expect(made.volumes.sort()).toEqual(['certs', 'consensus-1', 'consensus-2', 'consensus-3'].map((v) => `${PROJECT}_${v}`));
      compose(['down', '-v', '--remove-orphans', '--timeout', '10']);
      downDone = true;
      expect(projectResources(PROJECT)).toEqual({ containers: [], networks: [], volumes: [] });
    });
  });
}
