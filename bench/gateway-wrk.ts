// wrk (Debian's, a C load generator) for bench/gateway.ts: a closed loop of persistent connections
// POSTing a JSON body through a Lua script, whose `done` hook prints the counts and the latency
// percentiles as one JSON line.
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WrkResult {
  name: string;
  requests: number;
  seconds: number;
  /** Socket errors and timeouts (wrk's own `--timeout`). */
  socketErrors: number;
  /** Answers with a status of 400 or more. */
  badStatus: number;
  maxMs: number;
  /** Latency at percentile p (0-100), in ms, for the percentiles the script was asked for. */
  at(p: number): number;
  count: number;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  /** Every request carries `x-synod-key: user-<n>` over 10,000 keys (consistent hashing). */
  keyed?: boolean;
}

/** Percentiles every run reports: the chart's grid (even steps of nines up to p99.99) and the usual ones. */
export const REPORTED_PERCENTILES: number[] = (() => {
  const out = new Set<number>([50, 90, 99, 99.9]);
  for (let x = 0; x <= 4 + 1e-9; x += 0.05) out.add(Math.round(100 * (1 - Math.pow(10, -x)) * 1e4) / 1e4);
  return [...out].sort((a, b) => a - b);
})();

const BODY = '{"message":"bench"}';

/** The Lua script of a run: the POST, and a `done` that prints one line `SYNOD-WRK <json>`. */
function script(keyed: boolean): string {
  const request = keyed
    ? `
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, { ["Content-Type"] = "application/json", ["x-synod-key"] = "user-" .. ((n * 7919) % 10000) })
end`
    : '';
  return `wrk.method = "POST"
wrk.body = '${BODY}'
wrk.headers["Content-Type"] = "application/json"
${request}
done = function(summary, latency, requests)
  local ps = {}
  for _, p in ipairs({ ${REPORTED_PERCENTILES.join(', ')} }) do
    ps[#ps + 1] = string.format('"%s":%d', p, latency:percentile(p))
  end
  local e = summary.errors
  io.write(string.format('SYNOD-WRK {"requests":%d,"durationUs":%d,"socketErrors":%d,"badStatus":%d,"maxUs":%d,"percentilesUs":{%s}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, latency.max, table.concat(ps, ",")))
end
`;
}

export function findWrk(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : undefined;
}

/** Runs wrk (one thread) against `url` for whole seconds; scripts go to `dir`. */
export async function runWrk(binary: string, dir: string, name: string, url: string, opts: WrkOptions): Promise<WrkResult> {
  const path = join(dir, opts.keyed ? 'post-keyed.lua' : 'post.lua');
  await writeFile(path, script(opts.keyed === true));
  const seconds = Math.max(1, Math.round(opts.seconds));
  // A request stuck behind a frozen worker is counted in the latencies, not dropped as a wrk timeout.
  const args = ['-t1', `-c${opts.connections}`, `-d${seconds}s`, '--timeout', '30s', '-s', path, url];
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`wrk ${args.join(' ')} exited ${code}: ${stderr || stdout}`))));
  });
  const line = out.split('\n').find((l) => l.startsWith('SYNOD-WRK '));
  if (!line) throw new Error(`wrk printed no result line:\n${out}`);
  const r = JSON.parse(line.slice('SYNOD-WRK '.length)) as {
    requests: number;
    durationUs: number;
    socketErrors: number;
    badStatus: number;
    maxUs: number;
    percentilesUs: Record<string, number>;
  };
  const points = Object.entries(r.percentilesUs)
    .map(([p, us]) => [Number(p), us / 1000] as const)
    .sort((a, b) => a[0] - b[0]);
  return {
    name,
    requests: r.requests,
    seconds: r.durationUs / 1e6,
    socketErrors: r.socketErrors,
    badStatus: r.badStatus,
    maxMs: r.maxUs / 1000,
    count: r.requests,
    at(p: number): number {
      const hit = points.find(([q]) => q >= p - 1e-9);
      return (hit ?? points.at(-1)!)[1];
    },
  };
}
