// `npm run bench:raft [-- --quick]`
//
// The Raft core alone: three in-process nodes with an in-memory network and storage (no
// serialization, no disk), so the figures say what the algorithm costs. Entries committed per second
// and per-proposal latency (propose → committed at the leader), with proposal batching on (many
// proposals per Ready) and off (one proposal per Ready round). Then the WAL alone on this disk.
import * as hdr from 'hdr-histogram-js';
import { RaftNode, type RaftMessage } from '@synod/raft';
import { seededRandom } from '@synod/testkit';
import { benchArgs, machine, ms } from './lib.js';
import { runWalBench } from './wal.js';

const quick = benchArgs('raft', {}).flag('quick');
const seconds = quick ? 0.5 : 5;
const ENTRY = new Uint8Array(16).fill(7);

interface Run {
  name: string;
  entries: number;
  seconds: number;
  histogram: hdr.Histogram;
}

function cluster() {
  const ids = ['a', 'b', 'c'];
  const nodes = ids.map(
    (id, i) =>
      new RaftNode({
        id,
        initialMembership: { voters: ids, learners: [] },
        random: seededRandom(i + 1),
        electionTicks: 10,
        heartbeatTicks: 1,
        maxMsgBytes: 1024 * 1024,
        maxInflightMsgs: 1024,
      }),
  );
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const storage = new Map(ids.map((id) => [id, [] as unknown[]]));
  let committedAtLeader = 0;
  /** Carries out Readies and delivers messages until quiet; returns entries newly committed at the leader. */
  const pump = (): number => {
    const before = committedAtLeader;
    for (;;) {
      const queue: RaftMessage[] = [];
      for (const n of nodes) {
        if (!n.hasReady()) continue;
        const rd = n.ready();
        storage.get(n.id)!.push(...rd.records);
        if (n.role === 'leader') committedAtLeader += rd.committed.filter((e) => e.kind === 'command').length;
        queue.push(...(rd.sendBeforePersist ?? []), ...rd.messages);
        n.advance();
      }
      if (queue.length === 0) break;
      for (const m of queue) byId.get(m.to)!.step(m);
    }
    return committedAtLeader - before;
  };
  while (!nodes.some((n) => n.role === 'leader')) {
    nodes[0]!.tick();
    pump();
  }
  const leader = nodes.find((n) => n.role === 'leader')!;
  // Keep storage from growing without bound during long runs.
  const trim = () => {
    for (const s of storage.values()) s.length = 0;
  };
  return { leader, pump, trim, nodes };
}

function run(name: string, batch: number): Run {
  const { leader, pump, trim, nodes } = cluster();
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  let entries = 0;
  const started = process.hrtime.bigint();
  const end = started + BigInt(Math.round(seconds * 1e9));
  let rounds = 0;
  while (process.hrtime.bigint() < end) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      const r = leader.propose(ENTRY);
      if (!r.ok) throw new Error(`proposal refused: ${r.code}`);
    }
    const committed = pump();
    if (committed !== batch) throw new Error(`expected ${batch} commits, got ${committed}`);
    // Every proposal of the batch waited for the whole round.
    const us = Number((process.hrtime.bigint() - t0) / 1000n);
    histogram.recordValueWithCount(Math.max(1, us), batch);
    entries += batch;
    if (++rounds % 64 === 0) {
      trim();
      // Let the log compact as a state machine snapshot would.
      for (const n of nodes) n.snapshotTaken(n.log.applied, new Uint8Array(0));
    }
  }
  return { name, entries, seconds: Number(process.hrtime.bigint() - started) / 1e9, histogram };
}

console.log(`bench:raft ${quick ? '(quick) ' : ''}on ${machine()}`);
console.log(`3 in-process nodes, in-memory network and storage, ${ENTRY.length}-byte entries, ${seconds} s per case\n`);
const results = [run('batching off (1 per round)', 1), run('batching on (64 per round)', 64), run('batching on (512 per round)', 512)];
const header = ['', 'entries/s', 'p50 ms', 'p99 ms', 'max ms', 'entries'];
const rows = results.map((r) => [
  r.name,
  (r.entries / r.seconds).toFixed(0),
  ms(r.histogram.getValueAtPercentile(50)),
  ms(r.histogram.getValueAtPercentile(99)),
  ms(r.histogram.maxValue),
  String(r.entries),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
for (const row of [header, ...rows]) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
const best = Math.max(...results.map((r) => r.entries / r.seconds));
console.log(`\nbest: ${best.toFixed(0)} entries/s committed (target: at least 200000)`);

console.log('');
await runWalBench(quick);
