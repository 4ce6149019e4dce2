import { Option, type Command } from 'commander';
import { LockName, MAX_LOCK_WAIT_MS, MAX_PERMITS, MIN_SESSION_TTL_MS, MAX_LEASE_TTL_MS, SynodError, isErrorCode, subjects, type LockMode, type LockStateResult } from '@synod/protocol';
import { LockError, toLockError, type Lock } from '@synod/locks';
import { intArg } from '../args.js';
import { UsageError } from '../errors.js';
import { table, type Table } from '../format.js';
import type { CliContext } from '../context.js';
import { execHolding } from './lock-exec.js';
import type { Helpers } from './types.js';

interface AcquireOpts {
  ttl: number;
  mode: LockMode;
  permits?: number;
}

/** A lock name as the lock manager takes it, else a usage error. */
export function lockName(value: unknown): string {
  const r = LockName.safeParse(value);
  if (!r.success) throw new UsageError(`lock name ${JSON.stringify(value)}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/** --mode and --permits together: permits only (and always) for a semaphore. */
export function checkMode(mode: LockMode, permits: number | undefined): void {
  if (mode === 'semaphore' && permits === undefined) throw new UsageError('--mode semaphore needs --permits N');
  if (mode !== 'semaphore' && permits !== undefined) throw new UsageError('--permits is only for --mode semaphore');
}

/** The lock client's errors as the CLI prints them: `error: <CODE>: ...` with the wire code. */
export function asCliError(err: unknown): unknown {
  const e = toLockError(err);
  if (e instanceof LockError) {
    if (e.code === 'LEASE_LOST') return new SynodError('LEASE_NOT_FOUND', e.message, { cause: e });
    return new SynodError(isErrorCode(e.code) ? e.code : 'INTERNAL', e.message, { cause: e });
  }
  return e;
}

export function formatAcquired(r: { name: string; mode: LockMode; token: number; lease: number; ttlMs: number }): string {
  return `acquired ${r.name} (${r.mode}): token ${r.token}, lease ${r.lease}, TTL ${r.ttlMs} ms; holding until Ctrl-C`;
}

/** Holders (token, mode, lease, lease time left) and waiters in the order they will be granted. */
export function formatLockState(s: LockStateResult): string {
  const lines = [`lock ${s.name} (revision ${s.revision})`];
  if (s.holders.length === 0) lines.push('holders: none');
  else {
    lines.push('holders:');
    const rows = [['TOKEN', 'MODE', 'LEASE', 'REMAINING_MS'], ...s.holders.map((h) => [String(h.token), modeText(h.mode, h.permits), String(h.lease), h.leaseRemainingMs === null ? '-' : String(h.leaseRemainingMs)])];
    lines.push(...table(rows).split('\n').map((l) => `  ${l}`));
  }
  if (s.waiters.length === 0) lines.push('waiters: none');
  else {
    lines.push('waiters:');
    const rows = [['#', 'MODE', 'LEASE', 'PLACE'], ...s.waiters.map((w, i) => [String(i + 1), modeText(w.mode, w.permits), String(w.lease), String(w.createRevision)])];
    lines.push(...table(rows).split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

/** `lock state -w table`: holders, then waiters in grant order. */
export function lockStateTable(s: LockStateResult): Table {
  return [
    ['ROLE', 'TOKEN', 'MODE', 'LEASE', 'REMAINING_MS', 'PLACE'],
    ...s.holders.map((h) => ['holder', String(h.token), modeText(h.mode, h.permits), String(h.lease), h.leaseRemainingMs === null ? '-' : String(h.leaseRemainingMs), String(h.createRevision)]),
    ...s.waiters.map((w) => ['waiter', '-', modeText(w.mode, w.permits), String(w.lease), '-', String(w.createRevision)]),
  ];
}

/** One line per change for `lock watch`. */
export function formatLockChange(s: LockStateResult): string {
  const holders = s.holders.length === 0 ? 'free' : `held by ${s.holders.map((h) => `lease ${h.lease} (token ${h.token}, ${h.mode})`).join(', ')}`;
  const waiters = s.waiters.length === 0 ? 'no waiters' : `waiters: ${s.waiters.map((w) => `lease ${w.lease} (${w.mode})`).join(', ')}`;
  return `${new Date().toISOString()} ${s.name}: ${holders}; ${waiters}`;
}

/** What `lock watch` compares: who holds (with which token) and who waits, in order. */
export function lockShape(s: LockStateResult): string {
  return JSON.stringify({ h: s.holders.map((h) => [h.key, h.token]), w: s.waiters.map((w) => w.key) });
}

const modeText = (mode: LockMode, permits?: number) => (mode === 'semaphore' && permits !== undefined ? `semaphore/${permits}` : mode);

export function registerLock(program: Command, h: Helpers): void {
  const lock = program.command('lock').description('take, inspect and release locks of the lock manager');

  withAcquireOptions(
    lock
      .command('acquire')
      .description('take a lock (waiting up to --timeout ms), print its fencing token and lease, and hold it (keeping the lease alive) until Ctrl-C, then release it')
      .argument('<name>', 'the lock name'),
  ).action(
    h.run(async (ctx, [rawName], o: AcquireOpts) => {
      const name = checkAcquire(ctx, rawName, o);
      await acquireAndHold(ctx, name, o);
    }),
  );

  withAcquireOptions(
    lock
      .command('exec')
      .description("take a lock, run a command while holding it (its fencing token in $SYNOD_LOCK_TOKEN), then release it; the command is killed if the lock's lease is lost")
      .argument('<name>', 'the lock name')
      .argument('<command...>', 'the command and its arguments, after --'),
  )
    .addHelpText(
      'after',
      `
The command's environment adds SYNOD_LOCK_NAME, SYNOD_LOCK_TOKEN (the fencing token) and SYNOD_LOCK_LEASE.
synodctl exits with the command's status (128 + N for a command ended by signal N). If the lease is
lost, the command's process group is killed at once (SIGKILL) and synodctl fails with
LEASE_NOT_FOUND, exit 1. Ctrl-C or SIGTERM sends the group SIGTERM, waits for it, then releases;
a second one sends SIGKILL.
Example:
  synodctl lock exec nightly-report --ttl 10000 -- sh -c './report.sh --fencing-token "$SYNOD_LOCK_TOKEN"'`,
    )
    .action(
      h.run(async (ctx, [rawName, command], o: AcquireOpts) => {
        const name = checkAcquire(ctx, rawName, o);
        await acquireAndExec(ctx, name, command as string[], o);
      }),
    );

  lock
    .command('release')
    .description('release a lock held by a lease with its fencing token (what `lock acquire` printed)')
    .argument('<name>', 'the lock name')
    .requiredOption('--lease <id>', 'the lease the lock rides on', intArg(1))
    .requiredOption('--token <t>', 'the fencing token', intArg(1))
    .action(
      h.run(async (ctx, [rawName], o: { lease: number; token: number }) => {
        const name = lockName(rawName);
        const { request } = await ctx.lockClient();
        try {
          const r = (await request(subjects.lockApi(ctx.opts.namespace), { type: 'release', name, lease: o.lease, token: o.token }, { timeoutMs: ctx.timeoutMs, requestId: `synodctl-${process.pid}-${Date.now()}` })) as { released?: boolean };
          ctx.print({ name, lease: o.lease, token: o.token, released: r.released === true }, `released ${name} (token ${o.token}, lease ${o.lease})`);
        } catch (err) {
          throw asCliError(err);
        }
      }),
    );

  lock
    .command('state')
    .alias('list')
    .description('print who holds a lock (token, lease, time left) and who waits, in grant order')
    .argument('<name>', 'the lock name')
    .action(
      h.run(async (ctx, [rawName]) => {
        const name = lockName(rawName);
        const { client } = await ctx.lockClient();
        const s = await client.state(name).catch((err: unknown) => Promise.reject(asCliError(err)));
        ctx.print(s, formatLockState(s), [lockStateTable(s)]);
      }),
    );

  lock
    .command('watch')
    .description("print a lock's holders and waiters each time they change, until Ctrl-C (polls `state`)")
    .argument('<name>', 'the lock name')
    .option('--interval <ms>', 'how often to ask the lock manager', intArg(20, 60_000), 250)
    .action(
      h.run(async (ctx, [rawName], o: { interval: number }) => {
        const name = lockName(rawName);
        const { client } = await ctx.lockClient();
        const stop = new AbortController();
        const off = ctx.io.onInterrupt(() => stop.abort());
        let last: string | undefined;
        let lastError: string | undefined;
        try {
          while (!stop.signal.aborted) {
            try {
              const s = await client.state(name);
              lastError = undefined;
              const shape = lockShape(s);
              if (shape !== last) ctx.stream(s, formatLockChange(s));
              last = shape;
            } catch (err) {
              const line = (asCliError(err) as Error).message;
              if (line !== lastError) ctx.io.stderr(`warning: ${line}\n`);
              lastError = line;
            }
            await sleep(o.interval, stop.signal);
          }
        } finally {
          off();
        }
      }),
    );
}

/** `--ttl`, `--mode` and `--permits`, shared by `lock acquire` and `lock exec`. */
function withAcquireOptions(command: Command): Command {
  return command
    .option('--ttl <ms>', 'TTL of the session lease the lock rides on', intArg(MIN_SESSION_TTL_MS, MAX_LEASE_TTL_MS), 10_000)
    .addOption(new Option('--mode <mode>', 'lock mode').choices(['mutex', 'read', 'write', 'semaphore']).default('mutex'))
    .option('--permits <n>', 'semaphore only: how many holders at once', intArg(1, MAX_PERMITS))
    .addHelpText('after', '\nThe global --timeout is how long to wait for the lock (default 5000 ms); an ungranted lock fails with TIMEOUT, exit 1.');
}

/** The lock name, once the options are known to fit together. */
function checkAcquire(ctx: CliContext, rawName: unknown, o: AcquireOpts): string {
  const name = lockName(rawName);
  checkMode(o.mode, o.permits);
  if (ctx.timeoutMs > MAX_LOCK_WAIT_MS) throw new UsageError(`--timeout must be at most ${MAX_LOCK_WAIT_MS} ms to wait for a lock`);
  return name;
}

/** Waits for the lock (up to the global --timeout); Ctrl-C meanwhile gives up. */
async function acquire(ctx: CliContext, name: string, o: AcquireOpts, interrupted: AbortSignal): Promise<Lock> {
  const { client } = await ctx.lockClient();
  try {
    return await client.acquire(name, { ttlMs: o.ttl, timeoutMs: ctx.timeoutMs, mode: o.mode, permits: o.permits, signal: interrupted });
  } catch (err) {
    if (interrupted.aborted) throw new SynodError('TIMEOUT', `interrupted before lock ${name} was granted`);
    throw asCliError(err);
  }
}

async function acquireAndExec(ctx: CliContext, name: string, command: string[], o: AcquireOpts): Promise<void> {
  const interrupted = new AbortController();
  const forced = new AbortController();
  const off = ctx.io.onInterrupt(() => (interrupted.signal.aborted ? forced.abort() : interrupted.abort()));
  try {
    const held = await acquire(ctx, name, o, interrupted.signal);
    let result;
    try {
      result = await execHolding(held, command, interrupted.signal, forced.signal);
    } finally {
      await held.release();
    }
    if (result.lost) {
      const reason = asCliError(held.signal.reason);
      const why = reason instanceof Error ? reason.message : String(reason);
      throw new SynodError('LEASE_NOT_FOUND', `lock ${name} lost (lease ${held.lease}): ${why}; the command was killed`, { cause: reason });
    }
    ctx.exitCode = result.status;
  } finally {
    off();
  }
}

async function acquireAndHold(ctx: CliContext, name: string, o: AcquireOpts): Promise<void> {
  const interrupted = new AbortController();
  const off = ctx.io.onInterrupt(() => interrupted.abort());
  try {
    const held = await acquire(ctx, name, o, interrupted.signal);
    ctx.stream({ name, mode: held.mode, token: held.token, lease: held.lease, ttlMs: o.ttl }, formatAcquired({ name, mode: held.mode, token: held.token, lease: held.lease, ttlMs: o.ttl }));
    await new Promise<void>((resolve) => {
      if (interrupted.signal.aborted || held.signal.aborted) return resolve();
      interrupted.signal.addEventListener('abort', () => resolve(), { once: true });
      held.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (held.signal.aborted && !interrupted.signal.aborted) {
      await held.release();
      throw asCliError(held.signal.reason);
    }
    const wasHeld = await held.release();
    ctx.note(wasHeld ? `released ${name}` : `${name} was no longer held; its lease is revoked`);
  } finally {
    off();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
