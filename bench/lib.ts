// Shared pieces of the benchmarks: argument parsing, closed-loop load, HDR histograms, reporting.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  seconds: number;
  histogram: hdr.Histogram;
}

/**
 * Runs `concurrency` clients in a closed loop for `seconds`: each sends a request, waits for the
 * answer, sends the next. Latency is recorded in microseconds. A failed request counts as an error
 * and is not recorded as a latency.
 */
export async function closedLoop(name: string, concurrency: number, seconds: number, send: () => Promise<void>): Promise<LoadResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let requests = 0;
  let errors = 0;
  const started = process.hrtime.bigint();
  const endAt = started + BigInt(Math.round(seconds * 1e9));
  const client = async (): Promise<void> => {
    while (process.hrtime.bigint() < endAt) {
      const t0 = process.hrtime.bigint();
      try {
        await send();
        histogram.recordValue(Number((process.hrtime.bigint() - t0) / 1000n));
        requests++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { name, requests, errors, seconds: Number(process.hrtime.bigint() - started) / 1e9, histogram };
}

export function ms(us: number): string {
  return (us / 1000).toFixed(2);
}

/**
 * One row per result: req/s, the chosen latency percentiles, max, counts. Plain columns by default;
 * `markdown` prints a Markdown table (what docs/benchmarks.md quotes).
 */
export function printTable(rows: LoadResult[], opts: { percentiles?: number[]; markdown?: boolean } = {}): void {
  const percentiles = opts.percentiles ?? [50, 90, 99];
  const header = ['', 'req/s', ...percentiles.map((p) => `p${p} ms`), 'max ms', 'requests', 'errors'];
  const lines = rows.map((r) => [
    r.name,
    (r.requests / r.seconds).toFixed(0),
    ...percentiles.map((p) => ms(r.histogram.getValueAtPercentile(p))),
    ms(r.histogram.maxValue),
    String(r.requests),
    String(r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const cells = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)));
  if (!opts.markdown) {
    for (const row of [header, ...lines]) console.log(cells(row).join('  '));
    return;
  }
  console.log(`| ${cells(header).join(' | ')} |`);
  console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
  for (const l of lines) console.log(`| ${cells(l).join(' | ')} |`);
}

export function machine(): string {
  const c = cpus();
  return `${c.length} x ${c[0]?.model ?? 'unknown cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

/** What a benchmark accepts: each option's kind and a line of help. */
export type BenchOptionSpec = Record<string, { type: 'boolean' | 'number' | 'string'; help: string }>;

export interface BenchArgs {
  /** A boolean option. */
  flag(name: string): boolean;
  /** A positive number, or `fallback` when the option is absent. */
  number(name: string, fallback: number): number;
  /** A string option, or `fallback` when absent. */
  string(name: string, fallback: string): string;
  /** Whether the option was given at all. */
  given(name: string): boolean;
  /** The command line that reproduces this run, for the report's head. */
  command: string;
}

/**
 * Parses a benchmark's flags strictly (`node:util` parseArgs): a misspelled or unknown option, a
 * missing value or a value that is not a positive number exits 2 with the list of options, rather
 * than being ignored.
 */
export function benchArgs(script: string, spec: BenchOptionSpec): BenchArgs {
  const all: BenchOptionSpec = { quick: { type: 'boolean', help: 'a short run that CI makes so the benchmark cannot rot' }, ...spec };
  const usage = () =>
    `options of ${script}:\n` +
    Object.entries(all)
      .map(([n, o]) => `  --${n}${o.type === 'boolean' ? '' : ` <${o.type}>`}  ${o.help}`)
      .join('\n');
  const fail = (why: string): never => {
    console.error(`${script}: ${why}\n${usage()}`);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(Object.entries(all).map(([n, o]) => [n, { type: o.type === 'boolean' ? 'boolean' : 'string' }])),
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    fail((err as Error).message);
  }
  const args = process.argv.slice(2);
  return {
    flag: (name) => values[name] === true,
    number(name, fallback) {
      const raw = values[name];
      if (raw === undefined) return fallback;
      const v = Number(raw);
      if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || v <= 0) fail(`--${name} needs a positive number, got ${JSON.stringify(raw)}`);
      return v;
    },
    string: (name, fallback) => (typeof values[name] === 'string' ? (values[name] as string) : fallback),
    given: (name) => values[name] !== undefined,
    command: `npx tsx --conditions=@synod/source bench/${script}.ts${args.length > 0 ? ` ${args.join(' ')}` : ''}`,
  };
}

/**
 * CPU seconds (user + system) a process has used so far, from its own accounting in /proc (clock
 * ticks of 1/100 s); NaN if it cannot be read.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; clock ticks of 1/100 s.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}
