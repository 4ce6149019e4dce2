import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { APP_PROCESS_ENV } from './paths.js';

/** One parsed NDJSON log line of an app. */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface AppProcessOptions {
  /** Path of the script node runs (an app's dist/main.js). */
  script: string;
  env: Record<string, string | undefined>;
  /** How long to wait for the `ready` line, in milliseconds. */
  readyTimeoutMs?: number;
  /** Name used in error messages. */
  name?: string;
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * An app started as a real child process. `ready` resolves with the app's `{"msg":"ready"}` log
 * line (which carries its ports and id); the fixture never sleeps.
 */
export class AppProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<ExitResult>;
  private readonly waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  private constructor(readonly opts: AppProcessOptions) {
    this.child = spawn(process.execPath, [opts.script], {
      env: { PATH: process.env.PATH, ...APP_PROCESS_ENV, ...opts.env } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: this.child.stdout! }).on('line', (raw) => {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        line = { msg: raw, unparsed: true };
      }
      this.lines.push(line);
      for (const w of [...this.waiters]) {
        if (w.match(line)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (raw) => this.stderr.push(raw));
  }

  /** Starts the app and waits for its ready line; fails with its output if it exits first. */
  static async start(opts: AppProcessOptions): Promise<{ app: AppProcess; ready: LogLine }> {
    const app = new AppProcess(opts);
    try {
      const ready = await app.waitForLine((l) => l.msg === 'ready', opts.readyTimeoutMs ?? 15_000);
      return { app, ready };
    } catch (err) {
      // Nobody holds the process once start fails: it must not outlive the test.
      app.signal('SIGKILL');
      throw err;
    }
  }

  /** Starts the app and waits for it to exit (for configuration errors and the like). */
  static async runToExit(opts: AppProcessOptions & { timeoutMs?: number }): Promise<ExitResult & { app: AppProcess }> {
    const app = new AppProcess(opts);
    const timeoutMs = opts.timeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      app.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${app.name} did not exit within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    await app.outputDone();
    return { ...result, app };
  }

  get name(): string {
    return this.opts.name ?? this.opts.script;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first line (already seen or future) that matches. */
  waitForLine(match: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms\n${this.describeOutput()}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(waiter);
      void this.exited.then((r) => {
        if (!this.waiters.includes(waiter)) return;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${r.code ?? r.signal}) before the expected log line\n${this.describeOutput()}`));
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGKILL: no cleanup runs in the app, as in a crash. */
  async kill(): Promise<ExitResult> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitResult> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }

  describeOutput(): string {
    const out = this.lines.slice(-20).map((l) => JSON.stringify(l));
    return [`--- ${this.name} stdout (last 20) ---`, ...out, `--- stderr ---`, ...this.stderr.slice(-20)].join('\n');
  }

  private async outputDone(): Promise<void> {
    if (this.child.stdout && !this.child.stdout.readableEnded) {
      await new Promise<void>((resolve) => this.child.stdout!.once('close', () => resolve()));
    }
  }
}
