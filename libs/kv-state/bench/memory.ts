/**
 * Memory and speed of the state machine at 100,000 keys with 256-character values:
 * `node --expose-gc --conditions=@synod/source --import tsx libs/kv-state/bench/memory.ts [keys]` (or `npm run bench` here).
 */
import type { KvWriteOp } from '@synod/protocol';
import { KvStateMachine } from '../src/index.js';

const keys = Number(process.argv[2] ?? 100_000);
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heapMiB = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

// Flat strings, as a replica gets them from decoding log entries (padEnd alone builds cons strings).
const value = (i: number): string => JSON.parse(JSON.stringify(`${i}:`.padEnd(256, 'v'))) as string;
const keyOf = (i: number): string => `key/${String(i).padStart(6, '0')}`;

const m = new KvStateMachine();
let index = 0;
const request = (clientId: string, seq: number, op: KvWriteOp, ackBelow?: number) =>
  m.apply(++index, { type: 'request', session: { clientId, seq, ...(ackBelow === undefined ? {} : { ackBelow }) }, op });

const before = heapMiB();
let t = performance.now();
for (let i = 0; i < keys; i++) {
  // Keys in a shuffled order, so the sorted index sees inserts everywhere.
  request(`c${i % 100}`, Math.floor(i / 100) + 1, { op: 'put', key: keyOf((i * 7919) % keys), value: value(i) });
}
const putMs = performance.now() - t;
const grown = heapMiB() - before;
out(
  `${keys} puts: ${putMs.toFixed(0)} ms (${((putMs * 1000) / keys).toFixed(1)} µs/put), heap +${grown.toFixed(1)} MiB ` +
    `with 100 sessions caching 1,000 results each`,
);

m.apply(++index, { type: 'expireSessions', clientIds: Array.from({ length: 100 }, (_, i) => `c${i}`) });
const plain = heapMiB() - before;
out(`without the session caches: heap +${plain.toFixed(1)} MiB (${((plain * 2 ** 20) / keys).toFixed(0)} B/key)`);

t = performance.now();
for (let i = 0; i < keys; i++) request('u', i + 1, { op: 'put', key: keyOf(i), value: value(i + 1) }, i + 1);
out(`${keys} updates (2 versions per key): ${(performance.now() - t).toFixed(0)} ms, heap +${(heapMiB() - before).toFixed(1)} MiB`);

t = performance.now();
const r = m.range({ key: 'key/05', prefix: true, limit: 100 });
out(`prefix range (${r.ok ? r.result.count : r.error.code} match, 100 returned): ${(performance.now() - t).toFixed(1)} ms`);

t = performance.now();
const snap = m.snapshot();
out(`snapshot: ${(snap.length / 2 ** 20).toFixed(1)} MiB in ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
const back = KvStateMachine.restore(snap);
out(`restore: ${(performance.now() - t).toFixed(0)} ms, ${back.size} keys`);
