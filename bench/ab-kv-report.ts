// `npx tsx --conditions=@synod/source bench/ab-kv-report.ts <dir>`: the before/after comparison of bench/ab-kv.sh from the
// `before-N.json` and `after-N.json` files bench:kv --json wrote there. Per engine and case: the
// median of the rounds on each side, the worst round before, and WORSE where the median after is
// below the worst round before in throughput or above it in p50 or p99 latency; then the CPU per
// 1,000 puts of the leader and of each follower (medians). Exits 1 if any case is worse.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { table } from './kv-common.js';

interface Case {
  name: string;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  cpu: { member: string; leader: boolean; msPer1000: number }[];
}
interface Run {
  suites: { name: string; cases: Case[]; resumesMs: number[] }[];
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: npx tsx --conditions=@synod/source bench/ab-kv-report.ts <dir written by bench/ab-kv.sh>');
  process.exit(2);
}
const runs = (side: 'before' | 'after'): Run[] =>
  readdirSync(dir)
    .filter((f) => f.startsWith(`${side}-`) && f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Run);
const before = runs('before');
const after = runs('after');
if (before.length === 0 || after.length === 0) {
  console.error(`${dir}: no before-N.json or after-N.json`);
  process.exit(2);
}

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const casesOf = (rs: Run[], suite: string, name: string): Case[] => rs.flatMap((r) => r.suites.filter((s) => s.name === suite).flatMap((s) => s.cases.filter((c) => c.name === name)));
const leaderCpu = (c: Case): number => c.cpu.find((x) => x.leader)?.msPer1000 ?? NaN;
const followerCpu = (c: Case): number => median(c.cpu.filter((x) => !x.leader).map((x) => x.msPer1000));
const f = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

let worse = 0;
console.log(`before: ${before.length} rounds, after: ${after.length} rounds (${dir})`);
for (const suite of [...new Set(before.flatMap((r) => r.suites.map((s) => s.name)))]) {
  console.log(`\n== ${suite}: medians (req/s, p50 and p99 in ms); worst round before; verdict ==`);
  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  for (const name of [...new Set(before.flatMap((r) => r.suites.filter((s) => s.name === suite).flatMap((s) => s.cases.map((c) => c.name))))]) {
    const b = casesOf(before, suite, name);
    const a = casesOf(after, suite, name);
    const worst = { rate: Math.min(...b.map((c) => c.rate)), p50: Math.max(...b.map((c) => c.p50Ms)), p99: Math.max(...b.map((c) => c.p99Ms)) };
    const am = { rate: median(a.map((c) => c.rate)), p50: median(a.map((c) => c.p50Ms)), p99: median(a.map((c) => c.p99Ms)) };
    const bad = [am.rate < worst.rate && 'req/s', am.p50 > worst.p50 && 'p50', am.p99 > worst.p99 && 'p99'].filter(Boolean);
    if (bad.length > 0) worse++;
    rows.push([
      name,
      `${f(median(b.map((c) => c.rate)))} / ${f(median(b.map((c) => c.p50Ms)), 2)} / ${f(median(b.map((c) => c.p99Ms)), 2)}`,
      `${f(worst.rate)} / ${f(worst.p50, 2)} / ${f(worst.p99, 2)}`,
      `${f(am.rate)} / ${f(am.p50, 2)} / ${f(am.p99, 2)}`,
      bad.length > 0 ? `WORSE (${bad.join(', ')})` : 'ok',
    ]);
    if (b.some((c) => c.cpu.length > 0)) {
      cpuRows.push([name, f(median(b.map(leaderCpu))), f(median(b.map(followerCpu))), f(median(a.map(leaderCpu))), f(median(a.map(followerCpu)))]);
    }
  }
  table(['case', 'before (median)', 'before (worst round)', 'after (median)', 'after vs worst before'], rows);
  if (cpuRows.length > 0) {
    console.log(`\n${suite}: CPU time per 1,000 puts, ms (medians over the rounds)`);
    table(['case', 'before leader', 'before follower', 'after leader', 'after follower'], cpuRows);
  }
}
console.log(worse > 0 ? `\n${worse} case(s) worse after than the worst round before` : '\nno case worse after than the worst round before');
process.exitCode = worse > 0 ? 1 : 0;
