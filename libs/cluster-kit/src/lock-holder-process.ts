import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { workspaceRoot } from '@synod/testkit';

/** The child process of lock clients (lock-holder.ts, run through tsx) whose commits go to our resource. */
export class HolderProcess {
  readonly child: ChildProcess;
  readonly lines: { began?: number; committed?: number; ok?: boolean; ready?: boolean }[] = [];
  readonly stderr: string[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(env: Record<string, string>) {
    const script = fileURLToPath(new URL('./lock-holder.ts', import.meta.url));
    this.child = spawn(process.execPath, ['--conditions=@synod/source', '--import', 'tsx', script], { cwd: workspaceRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (raw) => {
      try {
        this.lines.push(JSON.parse(raw) as HolderProcess['lines'][number]);
      } catch {
        this.stderr.push(raw);
      }
      for (const l of [...this.listeners]) l();
    });
    createInterface({ input: this.child.stderr! }).on('line', (raw) => this.stderr.push(raw));
  }

  /** Resolves with the index of the first line from `from` on that matches, or -1 after `timeoutMs`. */
  waitFor(from: number, match: (l: HolderProcess['lines'][number]) => boolean, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const check = () => {
        const i = this.lines.findIndex((l, j) => j >= from && match(l));
        if (i < 0) return false;
        done(i);
        return true;
      };
      const timer = setTimeout(() => done(-1), timeoutMs);
      const done = (i: number) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(i);
      };
      const listener = () => void check();
      if (check()) return;
      this.listeners.add(listener);
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    await exited;
  }
}

