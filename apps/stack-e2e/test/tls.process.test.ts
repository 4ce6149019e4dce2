import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createCa, issueClientCertificate } from '@synod/dev-pki';
import { LockClient } from '@synod/locks';
import { inboxPrefixFor, subjects } from '@synod/protocol';
import { AppProcess, appScript, findNatsBinary, freePort, startNatsBinary, startReplicas, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITIES, natsNodeEnvironment, repoRoot, type IdentityName } from '../src/index.js';

/**
 * The bus on TLS with per-service identities, on real processes: certificates from tools/dev-certs
 * (the compose certs service's script), one nats-server running infra/nats/nats.conf and auth.conf
 * as a compose node does (ports and the route moved to loopback), and three replicas, a lock
 * manager, a worker and the gateway, each on its own client certificate. The compose stack does
 * the same in containers (stack.process.test.ts).
 */

const run = promisify(execFile);
const NS = uniqueNamespace('tls');
/** Which identity of auth.conf each app runs as (its compose service's NATS_USER). */
const APP_IDENTITY: Record<string, IdentityName> = { consensus: 'consensus', 'lock-manager': 'lock-manager', 'balancer-gateway': 'gateway', 'sample-worker': 'sample' };

let dir: string;
let nats: NatsFixture;
let monitorPort: number;
let clusterPort: number;
let gatewayPort: number;
const apps: AppProcess[] = [];
const port = () => Number(new URL(nats.url).port);
const files = (name: string) => ({ ca: join(dir, 'ca.pem'), cert: join(dir, name, 'cert.pem'), key: join(dir, name, 'key.pem') });

/** A service's environment: its NATS_USER and its certificate, as compose gives it. */
function identity(name: IdentityName): Record<string, string> {
  const f = files(name);
  return { NATS_URL: nats.url, SYNOD_NAMESPACE: NS, LOG_LEVEL: 'warn', NATS_USER: name, NATS_TLS_CA: f.ca, NATS_TLS_CERT: f.cert, NATS_TLS_KEY: f.key };
}

type TlsFiles = { caFile: string; certFile?: string; keyFile?: string };

/**
 * A connection as one identity. A refused TLS handshake surfaces in nats.js only as its connect
 * timeout, so tests expecting a refusal pass a short one (the server refuses at once, on loopback).
 */
async function natsAs(name: IdentityName, tls: TlsFiles = { caFile: files(name).ca, certFile: files(name).cert, keyFile: files(name).key }, timeoutMs = 3000): Promise<NatsConnection> {
  return connect({ servers: nats.url, name: `tls-test/${name}`, timeout: timeoutMs, maxReconnectAttempts: 0, inboxPrefix: inboxPrefixFor(name), tls });
}

/** Everything a socket receives until the peer closes it or `quietMs` pass without data. */
function drain(socket: NodeJS.ReadWriteStream & { destroy(): void; on(e: string, f: (...a: never[]) => void): unknown }, quietMs: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    let timer = setTimeout(() => finish(false), quietMs);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), quietMs);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

const CONNECT = 'CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"name":"probe","cluster":"synod"}\r\nPING\r\n';

describe('the bus on TLS with per-service identities (processes)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'synod-tls-'));
    const made = spawnSync('bash', [join(repoRoot, 'tools', 'dev-certs'), dir], { encoding: 'utf8', timeout: 60_000 });
    expect(made.status, made.stderr).toBe(0);
    const bin = findNatsBinary();
    if (!bin) throw new Error('this suite needs a nats-server binary on PATH (apt-get install nats-server)');
    [monitorPort, clusterPort] = [await freePort(), await freePort()];
    const node = files('nats-1');
    nats = await startNatsBinary(
      bin,
      // compose's node configuration, its ports and its route on loopback (the route's host is
      // localhost, which the node certificates name, so that the route check has a peer to accept).
      ['-c', join(repoRoot, 'infra', 'nats', 'nats.conf'), '-m', String(monitorPort), '--cluster', `nats://127.0.0.1:${clusterPort}`, '--routes', `nats-route://localhost:${await freePort()}`],
      undefined,
      { PATH: process.env.PATH, ...natsNodeEnvironment({ SYNOD_NAMESPACE: NS }), SYNOD_NATS_TLS_CA: node.ca, SYNOD_NATS_TLS_CERT: node.cert, SYNOD_NATS_TLS_KEY: node.key },
    );
    apps.push(...(await startReplicas({ natsUrl: nats.url, namespace: NS, ids: ['n1', 'n2', 'n3'], dataRoot: join(dir, 'data'), env: identity('consensus') })));
    const started = await Promise.all([
      AppProcess.start({ name: 'lock-manager', script: appScript('lock-manager'), env: identity('lock-manager') }),
      AppProcess.start({ name: 'worker', script: appScript('sample-worker'), env: { ...identity('sample'), WORKER_SERVICE: 'sample', WORKER_ID: 'tls-w1' } }),
      AppProcess.start({ name: 'gateway', script: appScript('balancer-gateway'), env: { ...identity('gateway'), PORT: '0', HOST: '127.0.0.1' } }),
    ]);
    apps.push(...started.map((s) => s.app));
    gatewayPort = started[2]!.ready.port as number;
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop(5000)));
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves an echo through the gateway, a KV put and get through synodctl and a lock, every connection on TLS as its own user', async () => {
    const deadline = Date.now() + 10_000;
    let res: Response;
    do {
      res = await fetch(`http://127.0.0.1:${gatewayPort}/v1/services/sample/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"message":"over tls"}' });
    } while (res.status === 503 && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 100)), true));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ message: 'over tls', worker: 'tls-w1' });

    const synodctl = (...args: string[]) =>
      run(process.execPath, [appScript('synodctl'), '--json', '--timeout', '10000', ...args], { env: { PATH: process.env.PATH, ...identity('synodctl') }, timeout: 30_000 });
    await synodctl('kv', 'put', 'tls/a', 'sealed');
    expect((await synodctl('kv', 'get', 'tls/a')).stdout).toContain('"sealed"');

    const nc = await natsAs('synodctl');
    try {
      const lock = await new LockClient({ nc, namespace: NS, timeoutMs: 10_000 }).acquire('tls.orders', { ttlMs: 5000, timeoutMs: 10_000 });
      expect(lock.token).toBeGreaterThan(0);
      await lock.release();
    } finally {
      await nc.close();
    }

    // The server's view: every app's connection is TLS and mapped to its identity's user.
    const connz = (await (await fetch(`http://127.0.0.1:${monitorPort}/connz?auth=true&limit=1024`)).json()) as {
      connections: { name?: string; tls_version?: string; authorized_user?: string }[];
    };
    const byApp = new Map<string, Set<string>>();
    for (const c of connz.connections) {
      expect(c.tls_version, c.name).toMatch(/^1\.[23]$/);
      const app = c.name?.split('/')[0] ?? '';
      if (app in APP_IDENTITY) byApp.set(app, (byApp.get(app) ?? new Set()).add(c.authorized_user ?? ''));
    }
    expect(Object.fromEntries([...byApp].map(([app, users]) => [app, [...users]]))).toEqual(
      Object.fromEntries(Object.entries(APP_IDENTITY).map(([app, name]) => [app, [IDENTITIES[name]]])),
    );
  });

  it('refuses a plaintext client, a client without a certificate, and a certificate from another CA', async () => {
    // Plaintext: the server announces TLS as required and drops a client that speaks in the clear.
    const plain = tcpConnect(port(), '127.0.0.1');
    plain.once('data', () => plain.write('CONNECT {"verbose":false}\r\nPING\r\n'));
    const heard = await drain(plain, 5000);
    expect(heard.text).toMatch(/^INFO .*"tls_required":true/);
    expect(heard.text).not.toContain('PONG');
    expect(heard.closed).toBe(true);

    await expect(natsAs('synodctl', { caFile: files('synodctl').ca }, 1000)).rejects.toThrow();
    const stranger = await issueClientCertificate(await createCa({ now: new Date(), validityDays: 2, subject: 'CN=Elsewhere,O=Synod' }), {
      now: new Date(),
      validityDays: 1,
      subject: IDENTITIES.synodctl,
    });
    const strangerFiles = { cert: join(dir, 'stranger-cert.pem'), key: join(dir, 'stranger-key.pem') };
    writeFileSync(strangerFiles.cert, stranger.cert);
    writeFileSync(strangerFiles.key, stranger.key);
    await expect(natsAs('synodctl', { caFile: files('synodctl').ca, certFile: strangerFiles.cert, keyFile: strangerFiles.key }, 1000)).rejects.toThrow();
    // The same subject from the right CA connects: the refusals above are the certificates'.
    await (await natsAs('synodctl')).close();
  });

  it("holds each identity to its user's permissions: a worker cannot publish peer messages or call the store", async () => {
    const worker = await natsAs('sample');
    const refused: string[] = [];
    void (async () => {
      for await (const s of worker.status()) if (s.type === 'error') refused.push(String(s.error));
    })();
    try {
      worker.publish(subjects.peer(NS, 'n1'), 'forged');
      await worker.flush();
      await expect(worker.request(subjects.kvLeader(NS), '{}', { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
      expect(refused.filter((e) => e.includes(`Publish to "${subjects.peer(NS, 'n1')}"`))).toHaveLength(1);
    } finally {
      await worker.close();
    }
  });

  it("takes on the cluster port only a node's certificate: a service's certificate cannot join as a route", async () => {
    const probe = async (name: string) => {
      const f = files(name);
      const socket = tlsConnect({ host: '127.0.0.1', port: clusterPort, servername: 'localhost', ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) });
      socket.once('secureConnect', () => socket.write(CONNECT));
      return drain(socket, 1000);
    };
    const service = await probe('consensus');
    expect(service.text).toContain("-ERR 'Authorization Violation'");
    expect(service.closed).toBe(true);
    const node = await probe('nats-2');
    expect(node.text).toMatch(/^INFO /);
    expect(node.text).not.toContain('-ERR');
    // Without a certificate, no TLS session at all.
    const bare = tlsConnect({ host: '127.0.0.1', port: clusterPort, servername: 'localhost', ca: readFileSync(files('nats-1').ca) });
    bare.once('secureConnect', () => bare.write(CONNECT));
    const none = await drain(bare, 1000);
    expect(none.closed).toBe(true);
    expect(none.text).not.toContain('PONG');
  });
});
