import { WireError, type LockRequestFn } from '@synod/locks';
import type { LockStateResult } from '@synod/protocol';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { formatLockChange, formatLockState, lockShape } from '../src/commands/lock.js';
import { exitStatus } from '../src/commands/lock-exec.js';
import type { CliIo } from '../src/context.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  sent: { subject: string; body: Record<string, unknown> }[];
}

/** Runs the CLI against a fake lock manager; `interrupt` fires the Ctrl-C handlers. */
async function run(argv: string[], answer: (body: Record<string, unknown>) => unknown, onStdout?: (text: string, interrupt: () => void) => void): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const sent: Run['sent'] = [];
  const handlers = new Set<() => void>();
  const interrupt = () => [...handlers].forEach((h) => h());
  const request: LockRequestFn = async (subject, body) => {
    sent.push({ subject, body: body as Record<string, unknown> });
    return answer(body as Record<string, unknown>);
  };
  const io: CliIo = {
    stdout: (s) => {
      stdout += s;
      onStdout?.(s, interrupt);
    },
    stderr: (s) => void (stderr += s),
    onInterrupt: (h) => {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    lockRequest: () => request,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr, sent };
}

const state: LockStateResult = {
  name: 'orders',
  holders: [{ key: 'locks/orders/mutex/11', mode: 'mutex', lease: 11, createRevision: 17, token: 17, leaseRemainingMs: 9500 }],
  waiters: [
    { key: 'locks/orders/mutex/12', mode: 'mutex', lease: 12, createRevision: 18 },
    { key: 'locks/orders/mutex/13', mode: 'mutex', lease: 13, createRevision: 21 },
  ],
  revision: 21,
};

function lockManager(extra: (body: Record<string, unknown>) => unknown = () => undefined) {
  return (body: Record<string, unknown>) => {
    const r = extra(body);
    if (r !== undefined) return r;
    switch (body.type) {
      case 'session':
        return { lease: 11, ttlMs: body.ttlMs };
      case 'keepAlive':
        return { lease: 11, ttlMs: 10000 };
      case 'acquire':
        return { name: body.name, mode: body.mode, lease: 11, token: 17, key: `locks/${String(body.name)}/${String(body.mode)}/11` };
      case 'release':
        return { released: true };
      case 'revoke':
        return { revoked: true };
      case 'state':
        return state;
      default:
        throw new Error(`unexpected ${String(body.type)}`);
    }
  };
}

describe('synodctl lock', () => {
  it('acquire prints the token and lease, holds until Ctrl-C, then releases and revokes', async () => {
    const r = await run(['lock', 'acquire', 'orders', '--ttl', '3000', '--timeout', '700'], lockManager(), (_s, interrupt) => setTimeout(interrupt, 10));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('acquired orders (mutex): token 17, lease 11, TTL 3000 ms; holding until Ctrl-C\n');
    expect(r.stderr).toBe('released orders\n');
    expect(r.sent[0]).toEqual({ subject: 'synod.lock.api', body: { type: 'session', ttlMs: 3000 } });
    expect(r.sent[1]?.body).toMatchObject({ type: 'acquire', name: 'orders', lease: 11, mode: 'mutex' });
    // The global --timeout is the wait (less the time the session took).
    expect(r.sent[1]?.body.timeoutMs).toBeGreaterThan(600);
    expect(r.sent[1]?.body.timeoutMs).toBeLessThanOrEqual(700);
    expect(r.sent.map((s) => s.body.type).slice(-2)).toEqual(['release', 'revoke']);
    expect(r.sent.find((s) => s.body.type === 'release')?.body).toEqual({ type: 'release', name: 'orders', lease: 11, token: 17, mode: 'mutex' });
  });

  it('acquire --json prints one JSON line; semaphore passes its permits', async () => {
    const r = await run(['lock', 'acquire', 'pool', '--mode', 'semaphore', '--permits', '3', '--json'], lockManager(), (_s, interrupt) => setTimeout(interrupt, 10));
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(2);
    expect(JSON.parse(r.stdout)).toEqual({ name: 'pool', mode: 'semaphore', token: 17, lease: 11, ttlMs: 10000 });
    expect(r.stderr).toBe('');
    expect(r.sent[1]?.body).toMatchObject({ type: 'acquire', mode: 'semaphore', permits: 3 });
  });

  it('acquire that times out: exit 1, error: TIMEOUT', async () => {
    const r = await run(['lock', 'acquire', 'orders', '--timeout', '50'], lockManager((b) => {
      if (b.type === 'acquire') throw new WireError('TIMEOUT', 'lock orders not granted within 50 ms', true, { waiting: false });
      return undefined;
    }));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: TIMEOUT: lock orders not granted/);
    expect(r.sent.at(-1)?.body.type).toBe('revoke');
  });

  it('rejects bad command lines with exit 2', async () => {
    const never = () => {
      throw new Error('must not be called');
    };
    for (const argv of [
      ['lock', 'acquire', 'a/b'],
      ['lock', 'acquire', 'a', '--mode', 'semaphore'],
      ['lock', 'acquire', 'a', '--permits', '2'],
      ['lock', 'acquire', 'a', '--mode', 'exclusive'],
      ['lock', 'acquire', 'a', '--ttl', '5'],
      ['lock', 'release', 'a', '--lease', '1'],
      ['lock', 'release', 'a', '--lease', 'x', '--token', '1'],
    ]) {
      const r = await run(argv, never);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(/^error: USAGE: /);
      expect(r.sent).toEqual([]);
    }
  });

  it('release sends the lease and token; NOT_HOLDER is exit 1', async () => {
    const ok = await run(['lock', 'release', 'orders', '--lease', '11', '--token', '17'], lockManager());
    expect(ok).toMatchObject({ code: 0, stdout: 'released orders (token 17, lease 11)\n' });
    expect(ok.sent[0]?.body).toEqual({ type: 'release', name: 'orders', lease: 11, token: 17 });
    const json = await run(['lock', 'release', 'orders', '--lease', '11', '--token', '17', '--json'], lockManager());
    expect(JSON.parse(json.stdout)).toEqual({ name: 'orders', lease: 11, token: 17, released: true });
    const bad = await run(['lock', 'release', 'orders', '--lease', '11', '--token', '16'], lockManager((b) => {
      throw new WireError('NOT_HOLDER', `lease 11 does not hold orders with token ${String(b.token)}`, false);
    }));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: NOT_HOLDER: lease 11 does not hold orders with token 16\n');
  });

  it('state (and its alias list) prints holders and waiters in order; --json the result', async () => {
    const r = await run(['lock', 'state', 'orders'], lockManager());
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(formatLockState(state) + '\n');
    expect(r.stdout).toMatch(/holders:\n {2}TOKEN\s+MODE\s+LEASE\s+REMAINING_MS\n {2}17\s+mutex\s+11\s+9500\nwaiters:\n {2}#\s+MODE\s+LEASE\s+PLACE\n {2}1\s+mutex\s+12\s+18\n {2}2\s+mutex\s+13\s+21\n$/);
    const boxed = await run(['lock', 'state', 'orders', '-w', 'table'], lockManager());
    expect(boxed.stdout).toBe(
      [
        '+--------+-------+-------+-------+--------------+-------+',
        '| ROLE   | TOKEN | MODE  | LEASE | REMAINING_MS | PLACE |',
        '+--------+-------+-------+-------+--------------+-------+',
        '| holder | 17    | mutex | 11    | 9500         | 17    |',
        '| waiter | -     | mutex | 12    | -            | 18    |',
        '| waiter | -     | mutex | 13    | -            | 21    |',
        '+--------+-------+-------+-------+--------------+-------+',
        '',
      ].join('\n'),
    );
    const list = await run(['lock', 'list', 'orders', '--json'], lockManager());
    expect(JSON.parse(list.stdout)).toEqual(state);
    expect(formatLockState({ name: 'x', holders: [], waiters: [], revision: 3 })).toBe('lock x (revision 3)\nholders: none\nwaiters: none');
  });

  it('watch prints a line only when holders or waiters change, until Ctrl-C', async () => {
    const states: LockStateResult[] = [
      state,
      { ...state, revision: 22, holders: [{ ...state.holders[0]!, leaseRemainingMs: 9000 }] },
      { ...state, revision: 23, holders: [], waiters: [] },
    ];
    let i = 0;
    let lines = 0;
    const r = await run(['lock', 'watch', 'orders', '--interval', '20', '--json'], lockManager((b) => (b.type === 'state' ? states[Math.min(i++, states.length - 1)] : undefined)), (_s, interrupt) => {
      if (++lines === 2) setTimeout(interrupt, 100);
    });
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as LockStateResult);
    expect(events.map((e) => e.revision)).toEqual([21, 23]);
    expect(lockShape(states[0]!)).toBe(lockShape(states[1]!));
    expect(formatLockChange(state)).toMatch(/ orders: held by lease 11 \(token 17, mutex\); waiters: lease 12 \(mutex\), lease 13 \(mutex\)$/);
  });
});

describe('synodctl lock exec', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synodctl-exec-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `lock exec` against a fake lock manager; `interrupt` fires its Ctrl-C handlers. */
  function start(argv: string[], answer: (body: Record<string, unknown>) => unknown) {
    let stderr = '';
    const sent: Record<string, unknown>[] = [];
    const handlers = new Set<() => void>();
    const done = runCli(argv, {
      stdout: () => undefined,
      stderr: (s) => void (stderr += s),
      onInterrupt: (h) => {
        handlers.add(h);
        return () => handlers.delete(h);
      },
      lockRequest: () => async (_subject, body) => {
        sent.push(body as Record<string, unknown>);
        return answer(body as Record<string, unknown>);
      },
    });
    return { done, sent, stderr: () => stderr, interrupt: () => [...handlers].forEach((h) => h()) };
  }

  async function waitForFile(file: string): Promise<string> {
    for (let i = 0; i < 500; i++) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text.endsWith('\n')) return text;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${file} was not written`);
  }

  it('runs the command with the lock in its environment, releases after it, and exits with its status', async () => {
    const out = join(dir, 'env.json');
    const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ name: process.env.SYNOD_LOCK_NAME, token: process.env.SYNOD_LOCK_TOKEN, lease: process.env.SYNOD_LOCK_LEASE }) + '\\n'); process.exit(3)`;
    const r = start(['lock', 'exec', 'orders', '--ttl', '5000', '--', process.execPath, '-e', script], lockManager());
    expect(await r.done).toBe(3);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual({ name: 'orders', token: '17', lease: '11' });
    expect(r.sent.map((b) => b.type)).toEqual(['session', 'acquire', 'release', 'revoke']);
    expect(r.stderr()).toBe('');
  });

  it('kills the command and what it started when the lease is lost: LEASE_NOT_FOUND, exit 1', async () => {
    const pids = join(dir, 'pids');
    // A shell that starts a long child and waits: both must die.
    const r = start(['lock', 'exec', 'orders', '--ttl', '300', '--', 'sh', '-c', `sleep 30 & echo "$$ $!" > ${pids}; wait`], lockManager((b) => {
      if (b.type === 'keepAlive') throw new WireError('LEASE_NOT_FOUND', 'lease 11 not found', false);
      return undefined;
    }));
    const started = (await waitForFile(pids)).trim().split(' ').map(Number);
    expect(await r.done).toBe(1);
    expect(r.stderr()).toMatch(/^error: LEASE_NOT_FOUND: lock orders lost \(lease 11\): .*the command was killed\n$/);
    for (const pid of started) await expect.poll(() => alive(pid), { timeout: 2000 }).toBe(false);
  });

  it('Ctrl-C sends the command SIGTERM, waits for it, then releases', async () => {
    const ready = join(dir, 'ready');
    const r = start(['lock', 'exec', 'orders', '--', 'sh', '-c', `trap 'exit 7' TERM; echo up > ${ready}; while :; do sleep 0.05; done`], lockManager());
    await waitForFile(ready);
    r.interrupt();
    expect(await r.done).toBe(7);
    expect(r.sent.map((b) => b.type).slice(-2)).toEqual(['release', 'revoke']);
  });

  it('a second Ctrl-C kills a command that ignores SIGTERM', async () => {
    const ready = join(dir, 'stubborn');
    const r = start(['lock', 'exec', 'orders', '--', 'sh', '-c', `trap '' TERM; echo up > ${ready}; while :; do sleep 0.05; done`], lockManager());
    await waitForFile(ready);
    r.interrupt();
    await new Promise((resolve) => setTimeout(resolve, 200));
    r.interrupt();
    expect(await r.done).toBe(137);
    expect(r.sent.map((b) => b.type).slice(-2)).toEqual(['release', 'revoke']);
  });

  it('a command that does not exist is a usage error naming it; the lock is released', async () => {
    const r = start(['lock', 'exec', 'orders', '--', join(dir, 'no-such-command')], lockManager());
    expect(await r.done).toBe(2);
    expect(r.stderr()).toMatch(/^error: USAGE: <command> ".*no-such-command": not found\n$/);
    expect(r.sent.map((b) => b.type)).toEqual(['session', 'acquire', 'release', 'revoke']);
  });

  it('names the exit status of a command ended by a signal as a shell does', () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
    expect(exitStatus(null, 'SIGTERM')).toBe(143);
  });
});

/** Whether a process still runs (a zombie waiting for its parent to reap it does not). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
