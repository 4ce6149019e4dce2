import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess, appScript, startNats, startReplicas, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NODES = ['n1', 'n2', 'n3'];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A long-running synodctl process (lock acquire, lock watch): its output so far and its exit. */
class Running {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }
  async waitFor(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms\nstdout: ${this.out}\nstderr: ${this.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** synodctl lock, built (dist/main.js), against three store replicas and two lock-manager instances. */
describe('synodctl lock against two lock managers', () => {
  let nats: NatsFixture;
  let ns: string;
  let dataRoot: string;
  let cli: string;
  const apps: AppProcess[] = [];
  const children: ChildProcess[] = [];

  function ctl(...args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      execFile(process.execPath, [cli, '--nats', nats.url, '--namespace', ns, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  function start(...args: string[]): Running {
    const child = spawn(process.execPath, [cli, '--nats', nats.url, '--namespace', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return new Running(child);
  }

  beforeAll(async () => {
    cli = appScript('synodctl');
    nats = await startNats();
    ns = uniqueNamespace('ctllk');
    dataRoot = await mkdtemp(join(tmpdir(), 'synodctl-lock-'));
    apps.push(...(await startReplicas({ natsUrl: nats.url, namespace: ns, ids: NODES, dataRoot })));
    for (const i of [1, 2]) {
      const { app } = await AppProcess.start({
        name: `lm${i}`,
        script: appScript('lock-manager'),
        env: { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, HTTP_PORT: '0', LOG_LEVEL: 'warn', STORE_ATTEMPT_TIMEOUT_MS: '300', STORE_TIMEOUT_MS: '4000' },
      });
      apps.push(app);
    }
    // Until the store has a leader, the lock manager answers UNAVAILABLE.
    for (let i = 0; ; i++) {
      const r = await ctl('lock', 'state', 'warmup', '--timeout', '3000');
      if (r.code === 0) break;
      if (i === 20) throw new Error(`lock manager not serving: ${r.stderr}`);
    }
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(apps.map((a) => a.kill()));
    await nats?.stop();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  it('holds a lock until Ctrl-C; a second acquire times out, waits in line, and gets it after the release', async () => {
    // Above the store's minimum lease TTL (2100 ms with the test replicas' timing): granted as asked.
    const first = start('lock', 'acquire', 'jobs', '--ttl', '2500', '--json');
    await first.waitFor(() => first.out.includes('\n'), 'first acquire');
    const held = JSON.parse(first.out) as { name: string; mode: string; token: number; lease: number; ttlMs: number };
    expect(held).toMatchObject({ name: 'jobs', mode: 'mutex', ttlMs: 2500 });
    expect(held.token).toBeGreaterThan(0);

    // Taken: a short wait fails with TIMEOUT, exit 1, one line.
    const busy = await ctl('lock', 'acquire', 'jobs', '--timeout', '300');
    expect(busy.code).toBe(1);
    expect(busy.stdout).toBe('');
    expect(busy.stderr).toMatch(/^error: TIMEOUT: .+\n$/);

    // Held past its TTL: the keep-alives work.
    await new Promise((r) => setTimeout(r, 3000));
    const second = start('lock', 'acquire', 'jobs', '--timeout', '20000');
    const watch = start('lock', 'watch', 'jobs', '--interval', '50', '--json');

    let state: { holders: { lease: number; token: number; leaseRemainingMs: number | null }[]; waiters: { lease: number }[] } | undefined;
    for (let i = 0; ; i++) {
      const s = await ctl('lock', 'state', 'jobs', '--json');
      expect(s.code, s.stderr).toBe(0);
      state = JSON.parse(s.stdout) as typeof state;
      if (state!.waiters.length === 1) break;
      if (i === 100) throw new Error(`no waiter: ${s.stdout}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(state!.holders).toHaveLength(1);
    expect(state!.holders[0]).toMatchObject({ lease: held.lease, token: held.token });
    expect(state!.holders[0]!.leaseRemainingMs).toBeGreaterThan(0);
    const waiterLease = state!.waiters[0]!.lease;
    expect(waiterLease).not.toBe(held.lease);
    const human = await ctl('lock', 'list', 'jobs');
    expect(human.stdout).toMatch(new RegExp(`holders:\\n\\s+TOKEN\\s+MODE\\s+LEASE\\s+REMAINING_MS\\n\\s+${held.token}\\s+mutex\\s+${held.lease}\\s+\\d+\\nwaiters:\\n\\s+#\\s+MODE\\s+LEASE\\s+PLACE\\n\\s+1\\s+mutex\\s+${waiterLease}\\s+\\d+\\n$`));

    // Ctrl-C on the first: it releases and exits 0; the second gets the lock with a higher token.
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    await second.waitFor(() => second.out.includes('acquired jobs'), 'second acquire');
    const token2 = Number(/token (\d+), lease (\d+)/.exec(second.out)?.[1]);
    expect(token2).toBeGreaterThan(held.token);
    expect(second.out).toMatch(new RegExp(`^acquired jobs \\(mutex\\): token ${token2}, lease ${waiterLease}, TTL 10000 ms; holding until Ctrl-C\\n$`));

    // The watcher saw the first holder with the waiter, then the second as holder.
    await watch.waitFor(() => watch.out.includes(`"token":${token2}`), 'watch of the new holder');
    watch.child.kill('SIGINT');
    expect(await watch.exited).toBe(0);
    const seen = watch.out.trim().split('\n').map((l) => JSON.parse(l) as { holders: { token: number }[]; waiters: unknown[] });
    expect(seen.some((s) => s.holders[0]?.token === held.token && s.waiters.length === 1)).toBe(true);
    expect(seen.at(-1)?.holders.map((h) => h.token)).toEqual([token2]);

    // release by lease and token from another process: a wrong token is NOT_HOLDER; the right one frees it.
    const wrong = await ctl('lock', 'release', 'jobs', '--lease', String(waiterLease), '--token', String(held.token));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error: NOT_HOLDER: /);
    const rel = await ctl('lock', 'release', 'jobs', '--lease', String(waiterLease), '--token', String(token2), '--json');
    expect(rel.code, rel.stderr).toBe(0);
    expect(JSON.parse(rel.stdout)).toMatchObject({ released: true });
    const free = JSON.parse((await ctl('lock', 'state', 'jobs', '--json')).stdout) as { holders: unknown[] };
    expect(free.holders).toEqual([]);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.err).toMatch(/jobs was no longer held/);
  });

  it('lock exec runs a command holding the lock, its token in the environment, and kills it when the lease is lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synodctl-exec-'));
    try {
      const seen = join(dir, 'seen');
      const script = `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ pid: process.pid, token: Number(process.env.SYNOD_LOCK_TOKEN), lease: Number(process.env.SYNOD_LOCK_LEASE) }) + '\\n'); setInterval(() => {}, 1000)`;
      const exec = start('lock', 'exec', 'report', '--ttl', '1000', '--', process.execPath, '-e', script);
      await exec.waitFor(() => existsSync(seen) && readFileSync(seen, 'utf8').endsWith('\n'), 'the command under the lock');
      const inside = JSON.parse(readFileSync(seen, 'utf8')) as { pid: number; token: number; lease: number };
      const state = JSON.parse((await ctl('lock', 'state', 'report', '--json')).stdout) as { holders: { token: number; lease: number }[] };
      expect(state.holders).toEqual([expect.objectContaining({ token: inside.token, lease: inside.lease })]);

      // The lease goes (as when the holder is cut off past its TTL): the command is killed, synodctl fails.
      expect((await ctl('lease', 'revoke', String(inside.lease))).code).toBe(0);
      expect(await exec.exited).toBe(1);
      expect(exec.err).toMatch(new RegExp(`^error: LEASE_NOT_FOUND: lock report lost \\(lease ${inside.lease}\\): .*the command was killed\\n$`));
      expect(() => process.kill(inside.pid, 0)).toThrow();

      // The next holder gets a higher token; synodctl exits with its command's status.
      const next = await ctl('lock', 'exec', 'report', '--', process.execPath, '-e', 'process.exit(Number(process.env.SYNOD_LOCK_TOKEN) > ' + String(inside.token) + ' ? 5 : 6)');
      expect(next.code, next.stderr).toBe(5);
      expect(JSON.parse((await ctl('lock', 'state', 'report', '--json')).stdout)).toMatchObject({ holders: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
