// `npm run bench:kv-path [-- --quick] [--seconds S]`
//
// Where a 1-client put's time goes, step by step across the five processes that carry it: three
// Raft replicas (real processes, production timing) on one nats-server, and the client in this
// process. Each replica is started with bench/kv-path-preload.mjs, which records the steps the code
// publishes on the `synod:phases` diagnostics channel (request received, peer message sent and
// received, persist started and done, reply sent); the client stamps its own send and receive. All
// use CLOCK_MONOTONIC (process.hrtime), one clock on one host, so the steps of each put join into
// its critical path: client → leader → counted-on follower (persist) → leader → client. Beside
// each NATS hop and the follower's persist stands its idle reference — half a NATS round trip and
// one WAL append, the inputs of issue 4's bound, measured before and after the put with the
// cluster idle — so the table says how much of the put is Synod's own work and how much is the
// same hop or sync done on a busy host. Raft only. `--quick` (CI) runs briefly and checks that the
// steps are still published and join up.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoundProbe, pooled } from './kv-bound.js';
import { LOAD_POLICY, key, pct, value } from './kv-common.js';
import { SynodTarget } from './kv-synod.js';
import { benchArgs, closedLoop, machine } from './lib.js';

const cli = benchArgs('kv-path', { seconds: { type: 'number', help: 'seconds of traced puts (8; quick 1)' } });
const quick = cli.flag('quick');
const seconds = cli.number('seconds', quick ? 1 : 8);
const warmSeconds = quick ? 1 : 4;
const probeSeconds = quick ? 0.3 : 1;

/** One process's steps, by `step type peer`, each a sorted list of times in µs. */
class Timeline {
  private readonly byKey = new Map<string, number[]>();

  constructor(text: string) {
    for (const line of text.split('\n')) {
      const [at, step, type, peer] = line.split(' ');
      if (!at || !step) continue;
      const k = `${step} ${type ?? '-'} ${peer ?? '-'}`;
      let list = this.byKey.get(k);
      if (!list) this.byKey.set(k, (list = []));
      list.push(Number(at) / 1000);
    }
    for (const list of this.byKey.values()) list.sort((a, b) => a - b);
  }

  count(k: string): number {
    return this.byKey.get(k)?.length ?? 0;
  }

  /** The first time of `k` at or after `t` (NaN when there is none). */
  after(k: string, t: number): number {
    const list = this.byKey.get(k);
    if (!list) return NaN;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo < list.length ? list[lo]! : NaN;
  }
}

const STEPS = [
  'client → leader (NATS hop)',
  'leader: request → append sent',
  'leader → follower (NATS hop)',
  'follower: append → persist',
  'follower: persist (WAL append)',
  'follower: persisted → ack sent',
  'follower → leader (NATS hop)',
  'leader: ack → reply sent',
  'leader → client (NATS hop)',
] as const;

function stats(xs: number[]): { p50: number; mean: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))] ?? NaN;
  return { p50: at(0.5), mean: s.reduce((a, b) => a + b, 0) / s.length, p90: at(0.9) };
}

const us = (x: number) => x.toFixed(0).padStart(6);

const dir = await mkdtemp(join(tmpdir(), 'synod-bench-kv-path-'));
const preload = new URL('./kv-path-preload.mjs', import.meta.url).href;
console.log(`bench:kv-path — ${new Date().toISOString()}`);
console.log(`command: ${cli.command}`);
console.log(`machine: ${machine()}`);
console.log(`3 Raft replicas (TICK_MS 100, ELECTION_TICKS 10), one nats-server; 1 client, ${warmSeconds} s warm-up, ${seconds} s traced`);

const t = await SynodTarget.start({ connections: 4, tickMs: 100, electionTicks: 10, extraEnv: { NODE_OPTIONS: `--import ${JSON.stringify(preload)}`, SYNOD_PHASES_DIR: dir } });
const sends: number[] = [];
const recvs: number[] = [];
let leader = '';
let putP50 = NaN;
let puts = 0;
let probe: BoundProbe | undefined;
try {
  leader = await t.leader(10_000);
  probe = await BoundProbe.open(t.natsUrl);
  let i = 0;
  const put = () => t.put(key('k', i++ % 10_000), value(i), LOAD_POLICY);
  await closedLoop('warm-up', 1, warmSeconds, () => put().then(() => undefined));
  await probe.sample(probeSeconds);
  const r = await closedLoop('put x1', 1, seconds, async () => {
    sends.push(Number(process.hrtime.bigint()) / 1000);
    await put();
    recvs.push(Number(process.hrtime.bigint()) / 1000);
  });
  await probe.sample(probeSeconds);
  putP50 = pct(r, 50);
  puts = r.requests;
} finally {
  await probe?.close();
  await t.stop();
}

const files = (await readdir(dir)).filter((f) => f.endsWith('.phases'));
const lines = new Map<string, Timeline>();
for (const f of files) lines.set(f.replace(/\.phases$/, ''), new Timeline(await readFile(join(dir, f), 'utf8')));
await rm(dir, { recursive: true, force: true });
const L = lines.get(leader);
if (!L) {
  console.error(`no steps recorded by the leader ${leader} (files: ${files.join(', ') || 'none'}): is the synod:phases channel still published?`);
  process.exit(1);
}
// The follower the leader counts on is the one it sends most appends to (thrifty replication holds the other's).
const followers = t.members.filter((m) => m !== leader && lines.has(m));
const follower = followers.sort((a, b) => L.count(`peer-tx app ${b}`) - L.count(`peer-tx app ${a}`))[0];
const F = follower ? lines.get(follower) : undefined;
if (!follower || !F) {
  console.error(`no follower recorded its steps (files: ${files.join(', ')})`);
  process.exit(1);
}

const seg = new Map<string, number[]>(STEPS.map((s) => [s, []]));
const total: number[] = [];
const leaderPersist: number[] = [];
let leaderLate = 0;
const lateBy: number[] = [];
for (let k = 0; k < recvs.length; k++) {
  const t0 = sends[k]!;
  const t7 = recvs[k]!;
  const req = L.after('request - -', t0);
  const ltx = L.after(`peer-tx app ${follower}`, req);
  const frx = F.after(`peer-rx app ${leader}`, ltx);
  const fp = F.after('persist - -', frx);
  const fpd = F.after('persisted - -', fp);
  const ftx = F.after(`peer-tx appResp ${leader}`, fpd);
  const lrx = L.after(`peer-rx appResp ${follower}`, ftx);
  const rep = L.after('reply - -', lrx);
  const path = [t0, req, ltx, frx, fp, fpd, ftx, lrx, rep, t7];
  if (path.some((x) => Number.isNaN(x)) || rep > t7) continue;
  path.slice(1).forEach((x, j) => seg.get(STEPS[j]!)!.push(x - path[j]!));
  total.push(t7 - t0);
  const lp = L.after('persist - -', ltx);
  const lpd = L.after('persisted - -', lp);
  if (!Number.isNaN(lpd) && lpd < t7) {
    leaderPersist.push(lpd - lp);
    if (lpd > lrx) {
      leaderLate++;
      lateBy.push(lpd - lrx);
    }
  }
}

const rtt = pooled('nats rtt', probe!.rtt);
const sync = pooled('wal sync', probe!.sync);
const halfRtt = pct(rtt, 50) / 2;
const walSync = pct(sync, 50);
const reference: Partial<Record<(typeof STEPS)[number], string>> = {
  'client → leader (NATS hop)': `RTT/2 ${halfRtt.toFixed(0)}`,
  'leader → follower (NATS hop)': `RTT/2 ${halfRtt.toFixed(0)}`,
  'follower: persist (WAL append)': `WAL append ${walSync.toFixed(0)}`,
  'follower → leader (NATS hop)': `RTT/2 ${halfRtt.toFixed(0)}`,
  'leader → client (NATS hop)': `RTT/2 ${halfRtt.toFixed(0)}`,
};

console.log(`\nleader ${leader}, counted-on follower ${follower}; ${total.length} of ${puts} puts joined up across the processes`);
console.log(`${'step'.padEnd(34)}   p50   mean    p90  (µs)  idle reference (p50)`);
const p50s = new Map<string, number>();
for (const s of STEPS) {
  const x = stats(seg.get(s)!);
  p50s.set(s, x.p50);
  console.log(`${s.padEnd(34)}${us(x.p50)} ${us(x.mean)} ${us(x.p90)}        ${reference[s] ?? ''}`);
}
const tot = stats(total);
console.log(`${'whole put (client)'.padEnd(34)}${us(tot.p50)} ${us(tot.mean)} ${us(tot.p90)}`);

const hops = STEPS.filter((s) => s.endsWith('(NATS hop)')).reduce((a, s) => a + p50s.get(s)!, 0);
const own = ['leader: request → append sent', 'follower: append → persist', 'follower: persisted → ack sent', 'leader: ack → reply sent'].reduce((a, s) => a + p50s.get(s)!, 0);
const fsync = p50s.get('follower: persist (WAL append)')!;
const bound = 3 * walSync + 4 * halfRtt;
console.log('\nsums of p50s on the critical path:');
console.log(`  4 NATS hops ${hops.toFixed(0)} µs, against ${(4 * halfRtt).toFixed(0)} idle (+${(hops - 4 * halfRtt).toFixed(0)})`);
console.log(`  the follower's persist ${fsync.toFixed(0)} µs, against a WAL append of ${walSync.toFixed(0)} idle (+${(fsync - walSync).toFixed(0)})`);
console.log(`  Synod's own steps (leader and follower, between messages) ${own.toFixed(0)} µs`);
if (leaderPersist.length > 0) {
  const lp = stats(leaderPersist);
  console.log(
    `off the path: the leader's own persist, p50 ${lp.p50.toFixed(0)} µs, ended after the follower's acknowledgement in ${leaderLate} of ${leaderPersist.length} puts` +
      (lateBy.length > 0 ? ` (then by p50 ${stats(lateBy).p50.toFixed(0)} µs)` : ''),
  );
}
console.log(
  `\nissue 4's bound with these idle inputs: 3 × ${walSync.toFixed(0)} + 2 × ${(2 * halfRtt).toFixed(0)} = ${bound.toFixed(0)} µs; put p50 ${putP50.toFixed(0)} µs (${(putP50 / bound).toFixed(2)}×). ` +
    `The bound leaves 2 WAL appends (${(2 * walSync).toFixed(0)} µs) for everything but one sync and four idle hops; this put spent ${(putP50 - walSync - 4 * halfRtt).toFixed(0)}.`,
);

// The check --quick exists for: the steps are still published and still join into whole puts.
if (total.length === 0 || total.length < 0.5 * puts) {
  console.error(`only ${total.length} of ${puts} puts joined up: a step is no longer published where this bench expects it`);
  process.exit(1);
}
