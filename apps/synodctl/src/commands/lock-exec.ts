import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Lock } from '@synod/locks';
import { UsageError } from '../errors.js';

/** What the command finds in its environment while it holds the lock. */
export function lockEnv(held: Pick<Lock, 'name' | 'token' | 'lease'>): Record<string, string> {
  return { SYNOD_LOCK_NAME: held.name, SYNOD_LOCK_TOKEN: String(held.token), SYNOD_LOCK_LEASE: String(held.lease) };
}

/** How a child ended, as a shell reports it: its exit code, or 128 + the signal's number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

export interface ExecResult {
  /** The command's exit status (see exitStatus). */
  status: number;
  /** True if the command was killed because the lock's lease was lost. */
  lost: boolean;
}

/**
 * Runs `argv` while `held` is held: stdio inherited, the lock's name, fencing token and lease in
 * its environment. The command gets its own process group, so that losing the lease kills the
 * whole group (SIGKILL, as etcdctl's `lock` kills its command), subprocesses of a script
 * included. `interrupted` (Ctrl-C or SIGTERM to synodctl) sends the group SIGTERM and waits for
 * it; `forced` (a second one) sends SIGKILL.
 */
export async function execHolding(held: Lock, argv: readonly string[], interrupted: AbortSignal, forced: AbortSignal): Promise<ExecResult> {
  const [command, ...args] = argv;
  if (command === undefined || command === '') throw new UsageError('missing the command to run after --');
  const child = spawn(command, args, { stdio: 'inherit', detached: true, env: { ...process.env, ...lockEnv(held) } });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve(err));
  });
  let lost = false;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  const onLost = () => {
    lost = true;
    signalGroup('SIGKILL');
  };
  const onInterrupt = () => signalGroup('SIGTERM');
  const onForced = () => signalGroup('SIGKILL');
  held.signal.addEventListener('abort', onLost, { once: true });
  interrupted.addEventListener('abort', onInterrupt, { once: true });
  forced.addEventListener('abort', onForced, { once: true });
  try {
    if (held.signal.aborted) onLost();
    const end = await ended;
    if (end instanceof Error) {
      const code = (end as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new UsageError(`<command> ${JSON.stringify(command)}: not found`);
      if (code === 'EACCES') throw new UsageError(`<command> ${JSON.stringify(command)}: permission denied`);
      throw end;
    }
    return { status: exitStatus(end.code, end.signal), lost };
  } finally {
    held.signal.removeEventListener('abort', onLost);
    interrupted.removeEventListener('abort', onInterrupt);
    forced.removeEventListener('abort', onForced);
  }
}
