/**
 * Memory and speed of the state machine at 100,000 keys with 256-character values:
 * `node --expose-gc --import tsx libs/kv-state/bench/memory.ts [keys]`.
 */
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

const value = (i: number): string => `${i}:`.padEnd(256, 'v');
const before = heapMiB();
const m = new KvStateMachine();
let index = 0;
let t = performance.now();
for (let i = 0; i < keys; i++) {
  // Keys in a shuffled order, so the sorted index sees inserts everywhere.
  const k = (i * 7919) % keys;
  m.apply(++index, { type: 'request', session: { clientId: `c${i % 100}`, seq: Math.floor(i / 100) + 1 }, op: { op: 'put', key: `key/${String(k).padStart(6, '0')}`, value: value(i) } });
}
const putMs = performance.now() - t;
const after = heapMiB();
out(`${keys} puts: ${putMs.toFixed(0)} ms (${((putMs * 1000) / keys).toFixed(1)} µs/put), heap +${(after - before).toFixed(1)} MiB (${(((after - before) * 2 ** 20) / keys).toFixed(0)} B/key) with 100 sessions caching 1,000 results each`);

m.apply(++index, { type: 'expireSessions', clientIds: Array.from({ length: 100 }, (_, i) => `c${i}`) });
out(`without the session caches: heap +${(heapMiB() - before).toFixed(1)} MiB`);

t = performance.now();
for (let i = 0; i < keys; i++) {
  m.apply(++index, { type: 'request', session: { clientId: 'u', seq: i + 1, ackBelow: i + 1 }, op: { op: 'put', key: `key/${String(i).padStart(6, '0')}`, value: value(i + 1) } });
}
out(`${keys} updates (2 versions per key): ${(performance.now() - t).toFixed(0)} ms, heap +${(heapMiB() - before).toFixed(1)} MiB`);

t = performance.now();
const r = m.range({ key: 'key/05', prefix: true, limit: 100 });
out(`prefix range (10,000 match, 100 returned): ${(performance.now() - t).toFixed(1)} ms, count ${r.ok ? r.result.count : r.error.code}`);

t = performance.now();
const snap = m.snapshot();
out(`snapshot: ${(snap.length / 2 ** 20).toFixed(1)} MiB in ${(performance.now() - t).toFixed(0)} ms`);
t = performance.now();
const back = KvStateMachine.restore(snap);
out(`restore: ${(performance.now() - t).toFixed(0)} ms, ${back.size} keys`);
m.apply(++index, { type: 'compact', revision: m.revision });
out(`after compacting everything: heap +${(heapMiB() - before).toFixed(1)} MiB (the restored copy is alive too)`);
