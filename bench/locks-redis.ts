// Redis's side of `bench/locks.ts`: one redis-server 7 (Debian's redis-server) on a loopback port,
// persistence off (no RDB, no AOF: the usual setup for a cache-style lock), driven through the
// `ioredis` client. The single-instance recipe: acquire with `SET key token NX PX ttl`, and when
// the key is taken poll again after a jittered delay; release with a Lua script that deletes the
// key only if it still holds this client's token. Redis has no queue and no notification, so a
// waiter learns of a release at its next poll: handoff latency is bounded below by the poll
// interval (10 ms, jittered 5-15 ms, by default).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '@synod/testkit';
import { TTL_MS, sleep, type Held, type LockTarget } from './locks-common.js';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function findRedis(): { path: string; version: string } | undefined {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) return undefined;
  const v = spawnSync(path, ['--version'], { encoding: 'utf8' });
  return { path, version: /v=(\S+)/.exec(v.stdout)?.[1] ?? 'unknown' };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

type LockRedis = Redis & { unlock(key: string, token: string): Promise<number> };

export class RedisLocks implements LockTarget {
  readonly name = 'redis';
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private readonly stderr: string[] = [];
  private clients: LockRedis[] = [];
  private next = 0;
  private dir = '';

  private constructor(
    private readonly pollMs: number,
    private port = 0,
  ) {}

  static async start(bin: string, connections: number, pollMs: number): Promise<RedisLocks> {
    const t = new RedisLocks(pollMs);
    try {
      t.port = await freePort();
      t.dir = await mkdtemp(join(tmpdir(), 'redis-locksbench-'));
      const child = spawn(bin, ['--port', String(t.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', t.dir, '--daemonize', 'no', '--loglevel', 'warning'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      t.child = child;
      t.exited = new Promise((resolve) => child.once('exit', () => resolve()));
      const keep = (chunk: Buffer) => {
        t.stderr.push(chunk.toString());
        if (t.stderr.length > 50) t.stderr.shift();
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      // Wait for the port before opening the clients, so none starts in a reconnect loop.
      const deadline = performance.now() + 10_000;
      while (!(await canConnect(t.port))) {
        if (performance.now() > deadline || t.child.exitCode !== null) throw new Error(`redis not up within 10 s:\n${t.stderr.join('').slice(-2000)}`);
        await sleep(50);
      }
      t.clients = await Promise.all(
        Array.from({ length: connections }, async () => {
          const c = new Redis({ host: '127.0.0.1', port: t.port, lazyConnect: true, maxRetriesPerRequest: 3 });
          c.defineCommand('unlock', { numberOfKeys: 1, lua: RELEASE });
          await c.connect();
          return c as LockRedis;
        }),
      );
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  private client(): LockRedis {
    return this.clients[this.next++ % this.clients.length]!;
  }

  async acquire(name: string): Promise<Held> {
    const c = this.client();
    const key = `lock:${name}`;
    const token = randomBytes(12).toString('hex');
    const deadline = performance.now() + 30_000;
    for (;;) {
      if ((await c.set(key, token, 'PX', TTL_MS, 'NX')) === 'OK') break;
      if (performance.now() > deadline) throw new Error(`redis: ${name} not granted within 30 s`);
      await sleep(this.pollMs * (0.5 + Math.random()));
    }
    return {
      release: async () => {
        if ((await c.unlock(key, token)) !== 1) throw new Error(`redis: ${name} was not held by this token any more`);
      },
    };
  }

  pids(): Map<string, number> {
    return new Map([['server', this.child?.pid ?? -1]]);
  }

  /** A plain SET (for context). */
  async put(key: string, value: string): Promise<void> {
    await this.client().set(key, value);
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child!.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
