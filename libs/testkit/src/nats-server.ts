import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.js';
import { TcpProxy } from './tcp-proxy.js';

export interface NatsFixture {
  /** URL to give apps and clients. */
  url: string;
  /** How the server was obtained. */
  source: 'env' | 'binary' | 'container';
  /** Stops what this fixture started (nothing for `env`). */
  stop(): Promise<void>;
}

/** Image used when NATS runs in a container; the compose file reads the same variable. */
export const DEFAULT_NATS_IMAGE = 'nats:2.10';

export interface StartNatsOptions {
  env?: Record<string, string | undefined>;
  /** Client port on 127.0.0.1 (a binary, or the container's mapping); default: a free one. */
  port?: number;
  /** Extra nats-server arguments (binary and container). */
  args?: string[];
}

export type NatsSource = { kind: 'env'; url: string } | { kind: 'binary'; path: string } | { kind: 'container'; image: string } | { kind: 'none'; reason: string };

/**
 * Decides where a NATS server comes from, in order: `NATS_URL` if set; a `nats-server` binary on
 * PATH; a container when a Docker engine answers. Pure in its inputs, so the order is testable.
 */
export function chooseNatsSource(probe: {
  env: Record<string, string | undefined>;
  findBinary: () => string | undefined;
  dockerAnswers: () => boolean;
}): NatsSource {
  const url = probe.env.NATS_URL?.trim();
  if (url) return { kind: 'env', url };
  const path = probe.findBinary();
  if (path) return { kind: 'binary', path };
  if (probe.dockerAnswers()) return { kind: 'container', image: probe.env.NATS_IMAGE?.trim() || DEFAULT_NATS_IMAGE };
  return {
    kind: 'none',
    reason:
      'no NATS server: set NATS_URL to a running server, put `nats-server` on PATH ' +
      '(Debian/Ubuntu: `apt-get install nats-server`), or start a Docker engine so a NATS container can run',
  };
}

export function findNatsBinary(env: Record<string, string | undefined> = process.env): string | undefined {
  const explicit = env.NATS_SERVER_BIN?.trim();
  if (explicit) return explicit;
  const r = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

export function dockerAnswers(): boolean {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 && r.stdout.trim() !== '';
}

/** Starts (or finds) a NATS server for a test or a local stack. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsFixture> {
  const env = opts.env ?? process.env;
  const source = chooseNatsSource({ env, findBinary: () => findNatsBinary(env), dockerAnswers });
  switch (source.kind) {
    case 'env':
      return { url: source.url, source: 'env', stop: async () => undefined };
    case 'binary':
      return startNatsBinary(source.path, opts.args ?? [], opts.port);
    case 'container':
      return startNatsContainer(source.image, opts.args ?? [], opts.port);
    case 'none':
      throw new Error(source.reason);
  }
}

/**
 * Starts `nats-server` on a free loopback port and waits until it accepts clients. `env`: the
 * server's environment (the variables a configuration file refers to); default: this process's.
 */
export async function startNatsBinary(path: string, args: string[] = [], fixedPort?: number, env?: NodeJS.ProcessEnv): Promise<NatsFixture> {
  for (let attempt = 0; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    // Its own process group: a Ctrl-C meant for the stack's launcher must not stop the bus first.
    const child = spawn(path, ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...(env ? { env } : {}) });
    try {
      await waitForOutput(child, /Server is ready/, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      // Another process may have taken the port between freePort() and the server's bind.
      if (attempt < 3 && fixedPort === undefined) continue;
      throw err;
    }
    return {
      url: `nats://127.0.0.1:${port}`,
      source: 'binary',
      stop: () => stopChild(child),
    };
  }
}

async function startNatsContainer(image: string, args: string[], hostPort?: number): Promise<NatsFixture> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(image)
    .withName(`synod-nats-${randomBytes(4).toString('hex')}`)
    .withCommand(['-p', '4222', ...args])
    .withExposedPorts(hostPort === undefined ? 4222 : { container: 4222, host: hostPort })
    // Images without a shell cannot run the default port check.
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    source: 'container',
    stop: async () => {
      await container.stop();
    },
  };
}

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let ready = false;
    const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    // Keep reading stderr after ready too, so the pipe never fills and blocks the server.
    child.stderr?.on('data', (chunk: Buffer) => {
      if (ready) return;
      seen += chunk.toString();
      if (pattern.test(seen)) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}:\n${seen}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface NatsClusterFixture {
  /** Client URLs, one per server. */
  urls: string[];
  /** The proxies every route between the two servers goes through. */
  routeProxies: TcpProxy[];
  /** Cuts the cluster route: the two servers (and everything on them) are partitioned. */
  cut(): void;
  heal(): void;
  stop(): Promise<void>;
}

/**
 * Two nats-servers clustered through TCP proxies the test controls (both directions of the route
 * go through a proxy, since servers advertise where they can be reached). Needs a nats-server binary.
 */
export async function startNatsPair(): Promise<NatsClusterFixture> {
  const bin = findNatsBinary();
  if (!bin) throw new Error('startNatsPair needs a nats-server binary on PATH (apt-get install nats-server)');
  const [clusterA, clusterB] = [await freePort(), await freePort()];
  const toA = await TcpProxy.start({ port: clusterA });
  const toB = await TcpProxy.start({ port: clusterB });
  const common = ['--cluster_name', `synod-${randomBytes(3).toString('hex')}`];
  const a = await startNatsBinary(bin, [...common, '--cluster', `nats://127.0.0.1:${clusterA}`, '--cluster_advertise', `127.0.0.1:${toA.port}`]);
  const b = await startNatsBinary(bin, [
    ...common,
    '--cluster',
    `nats://127.0.0.1:${clusterB}`,
    '--cluster_advertise',
    `127.0.0.1:${toB.port}`,
    '--routes',
    `nats://127.0.0.1:${toA.port}`,
  ]);
  return {
    urls: [a.url, b.url],
    routeProxies: [toA, toB],
    cut() {
      toA.cut();
      toB.cut();
    },
    heal() {
      toA.heal();
      toB.heal();
    },
    async stop() {
      await Promise.all([a.stop(), b.stop(), toA.close(), toB.close()]);
    },
  };
}
