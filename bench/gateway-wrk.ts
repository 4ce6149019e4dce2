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
  /**
   * Percentiles of each request's own latency, timed by the script (an echo endpoint: the body's
   * message carries the request's number back), instead of wrk's histogram. wrk corrects its
   * histogram for coordinated omission by adding, for every latency above twice the mean interval
   * between requests on a connection, synthetic samples at that latency minus 1, 2, 3... intervals:
   * right for a system that stalls as a whole, wrong when a few connections wait on one worker
   * while the others go on (a frozen worker's stuck requests then count tens of times each).
   */
  uncorrected?: boolean;
}

/** Percentiles every run reports: the chart's grid (even steps of nines up to p99.99) and the usual ones. */
export const REPORTED_PERCENTILES: number[] = (() => {
  const out = new Set<number>([50, 90, 99, 99.9]);
  for (let x = 0; x <= 4 + 1e-9; x += 0.05) out.add(Math.round(100 * (1 - Math.pow(10, -x)) * 1e4) / 1e4);
  return [...out].sort((a, b) => a - b);
})();

const BODY = '{"message":"bench"}';

/** The Lua script of a run: the POST, and a `done` that prints one line `SYNOD-WRK <json>`. */
function script(keyed: boolean, uncorrected: boolean): string {
  if (uncorrected) return uncorrectedScript();
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

/**
 * The script of an uncorrected run: each request's number goes in its body and comes back in the
 * echo, so its latency is timed from its write to its answer (CLOCK_MONOTONIC through LuaJIT's
 * ffi) and counted in 10 µs buckets; `done` merges the threads' buckets.
 */
function uncorrectedScript(): string {
  return `local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } synod_timespec; int clock_gettime(int, synod_timespec *); ]]
local ts = ffi.new("synod_timespec")
local function nowUs() ffi.C.clock_gettime(1, ts); return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3 end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
local n = 0
local started = {}
buckets = {}
unmatched = 0
request = function()
  n = n + 1
  started[n] = nowUs()
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, '{"message":"' .. n .. '"}')
end
response = function(status, headers, body)
  local id = tonumber(string.match(body or "", '"message":"(%d+)"'))
  local t = id and started[id]
  if not t then unmatched = unmatched + 1; return end
  started[id] = nil
  local b = math.floor((nowUs() - t) / 10)
  buckets[b] = (buckets[b] or 0) + 1
end
done = function(summary, latency, requests)
  local merged, keys, total, missed = {}, {}, 0, 0
  for _, thread in ipairs(threads) do
    missed = missed + thread:get("unmatched")
    for b, c in pairs(thread:get("buckets")) do
      if not merged[b] then merged[b] = 0; keys[#keys + 1] = b end
      merged[b] = merged[b] + c
      total = total + c
    end
  end
  table.sort(keys)
  local ps = {}
  for _, p in ipairs({ ${REPORTED_PERCENTILES.join(', ')} }) do
    local rank, seen, at = math.max(1, math.ceil(p / 100 * total)), 0, 0
    for _, b in ipairs(keys) do
      seen = seen + merged[b]
      at = b
      if seen >= rank then break end
    end
    ps[#ps + 1] = string.format('"%s":%d', p, at * 10)
  end
  local e = summary.errors
  io.write(string.format('SYNOD-WRK {"requests":%d,"durationUs":%d,"socketErrors":%d,"badStatus":%d,"maxUs":%d,"unmatched":%d,"percentilesUs":{%s}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, latency.max, missed, table.concat(ps, ",")))
end
`;
}

export function findWrk(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : undefined;
}

/** Runs wrk (one thread) against `url` for whole seconds; scripts go to `dir`. */
export async function runWrk(binary: string, dir: string, name: string, url: string, opts: WrkOptions): Promise<WrkResult> {
  if (opts.keyed && opts.uncorrected) throw new Error('runWrk: a keyed run cannot be uncorrected');
  const path = join(dir, opts.uncorrected ? 'post-uncorrected.lua' : opts.keyed ? 'post-keyed.lua' : 'post.lua');
  await writeFile(path, script(opts.keyed === true, opts.uncorrected === true));
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
    unmatched?: number;
    percentilesUs: Record<string, number>;
  };
  // An answer that carries no request number back (only error answers may): not an echo endpoint.
  if ((r.unmatched ?? 0) > r.badStatus) throw new Error(`wrk ${name}: ${r.unmatched} answers without a request number (an uncorrected run needs an echo endpoint)`);
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
