// Pieces shared by the two sides of `bench/kv.ts`: the workload (keys, values), the client retry
// loop, the target interface each system implements, RSS reading and the report tables.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { LoadResult } from './lib.js';
import { ms } from './lib.js';

/** 8-byte keys: one letter and seven digits. */
export function key(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(7, '0')}`;
}

/** 64 different 256-byte ASCII values, so stores cannot share one string. */
export const VALUES: string[] = Array.from({ length: 64 }, () => randomBytes(192).toString('base64'));
if (VALUES.some((v) => v.length !== 256)) throw new Error('values must be 256 bytes');

export function value(i: number): string {
  return VALUES[i % VALUES.length]!;
}

/** How a client retries: per-attempt deadline, budget for the whole call, jittered exponential backoff. */
export interface RetryPolicy {
  attemptTimeoutMs: number;
  deadlineMs: number;
  initialMs: number;
  maxMs: number;
}

/** The defaults of libs/store-client (attempt 2 s, call 5 s, backoff 50 ms doubling to 1 s, equal jitter). */
export const LOAD_POLICY: RetryPolicy = { attemptTimeoutMs: 2000, deadlineMs: 5000, initialMs: 50, maxMs: 1000 };

/**
 * The writers timed across a leader kill: a request sent to the dead leader just before the kill
 * gets no answer, so the attempt timeout is kept under the shortest election (1 s), and retries
 * back off 10 ms doubling to 100 ms so the measurement has a fine grain.
 */
export const RESUME_POLICY: RetryPolicy = { attemptTimeoutMs: 500, deadlineMs: 30_000, initialMs: 10, maxMs: 100 };

export function sleep(msec: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msec));
}

function backoffMs(attempt: number, p: RetryPolicy): number {
  const cap = Math.min(p.maxMs, p.initialMs * 2 ** Math.min(attempt - 1, 30));
  return cap / 2 + Math.random() * (cap / 2);
}

/** Counts what a target's clients saw, by error kind. */
export class Counters {
  retries = 0;
  readonly byKind = new Map<string, number>();
  note(kind: string): void {
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }
  reset(): void {
    this.retries = 0;
    this.byKind.clear();
  }
  describe(): string {
    return [...this.byKind].map(([k, n]) => `${k} ${n}`).join(', ');
  }
}

/**
 * Runs `attempt` until it succeeds, a non-retryable error or the call's budget runs out. Returns when
 * the successful attempt started (performance.now()): an answer to an attempt started after a kill
 * cannot come from the killed process.
 */
export async function withRetry(
  policy: RetryPolicy,
  counters: Counters,
  retryable: (err: unknown) => string | undefined,
  attempt: (timeoutMs: number, n: number) => Promise<void>,
): Promise<number> {
  const deadline = performance.now() + policy.deadlineMs;
  for (let n = 0; ; n++) {
    const start = performance.now();
    const remaining = deadline - start;
    try {
      await attempt(Math.max(1, Math.floor(Math.min(policy.attemptTimeoutMs, remaining))), n);
      return start;
    } catch (err) {
      const kind = retryable(err);
      counters.note(kind ?? `fatal ${errorName(err)}`);
      if (kind === undefined || performance.now() + 1 >= deadline) throw err;
      counters.retries++;
      await sleep(Math.min(backoffMs(n + 1, policy), Math.max(0, deadline - performance.now() - 1)));
    }
  }
}

export function errorName(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  if (err instanceof Error) return err.constructor.name === 'Error' ? err.message.slice(0, 60) : err.constructor.name;
  return String(err);
}

/** What bench/kv.ts needs from each system. */
export interface KvTarget {
  readonly name: string;
  readonly counters: Counters;
  /** Member names, in a stable order. */
  readonly members: string[];
  put(key: string, value: string, policy: RetryPolicy): Promise<number>;
  /** A linearizable read of one key; fails if the key is absent. */
  get(key: string, policy: RetryPolicy): Promise<number>;
  pid(member: string): number;
  /** The member every live member agrees is the leader. */
  leader(timeoutMs: number): Promise<string>;
  /** SIGKILL; resolves once the process is gone. Returns performance.now() just before the signal. */
  kill(member: string): Promise<number>;
  restart(member: string): Promise<void>;
  /** Resolves once every live member has applied everything the leader has committed. */
  caughtUp(timeoutMs: number): Promise<void>;
  /** When the member last logged that it became leader (performance.now() scale), if it says. */
  becameLeaderAt?(member: string, after: number): number | undefined;
  stop(): Promise<void>;
}

export interface Rss {
  member: string;
  rssMb: number;
  anonMb: number;
  hwmMb: number;
}

export async function readRss(member: string, pid: number): Promise<Rss> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : NaN;
  };
  return { member, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

export interface CaseResult extends LoadResult {
  retries: number;
  errorKinds: string;
  /**
   * Put cases: each member's CPU time per 1,000 puts over the case, in ms (from each process's own
   * accounting in /proc), and which member led.
   */
  cpu?: { member: string; leader: boolean; msPer1000: number }[];
}

export function rate(r: LoadResult): number {
  return r.seconds > 0 ? r.requests / r.seconds : 0;
}

export function pct(r: LoadResult, p: number): number {
  return r.requests > 0 ? r.histogram.getValueAtPercentile(p) : NaN;
}

export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(fmt(header));
  for (const l of rows) console.log(fmt(l));
}

export function printCases(rows: CaseResult[]): void {
  table(
    ['', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'requests', 'errors', 'retries'],
    rows.map((r) => [
      r.name,
      rate(r).toFixed(0),
      ms(pct(r, 50)),
      ms(pct(r, 99)),
      ms(pct(r, 99.9)),
      ms(r.requests > 0 ? r.histogram.maxValue : NaN),
      String(r.requests),
      String(r.errors),
      String(r.retries),
    ]),
  );
}

/** The put cases' CPU per 1,000 puts, one row per case, one column per member (* the leader). */
export function printCpu(rows: CaseResult[]): void {
  const withCpu = rows.filter((r) => r.cpu !== undefined);
  if (withCpu.length === 0) return;
  const members = withCpu[0]!.cpu!.map((c) => c.member);
  console.log('\nCPU time per 1,000 puts, ms, each member over the case (its own accounting in /proc; * the leader):');
  table(
    ['', ...members],
    withCpu.map((r) => [r.name, ...members.map((m) => {
      const c = r.cpu!.find((x) => x.member === m);
      return c ? `${c.msPer1000.toFixed(0)}${c.leader ? '*' : ''}` : '-';
    })]),
  );
}

/** min / median / max for a few samples, p50 / p99 for many. */
export function summarize(samples: number[]): string {
  if (samples.length === 0) return 'no samples';
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  const median = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  if (s.length < 20) return `min ${s[0]!.toFixed(0)} ms, median ${median.toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms (n=${s.length})`;
  return `p50 ${at(0.5).toFixed(0)} ms, p99 ${at(0.99).toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms (n=${s.length})`;
}
