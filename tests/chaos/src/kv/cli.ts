// `npm run chaos:kv -- --duration S [--engine raft|paxos]`: random kills, pauses and network cuts of real replicas while
// clients run; the history is checked for linearizability and every acknowledged write read back.
import { parseArgs } from 'node:util';
import { DEFAULT_ENGINE, ENGINES, KNOWN_ENGINES } from '@synod/engines';
import { runChaos } from './run.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '30' }, engine: { type: 'string', default: DEFAULT_ENGINE } } });
const seconds = Number(values.duration);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`--duration must be a positive number of seconds, got ${JSON.stringify(values.duration)}`);
  process.exit(2);
}
const engine = values.engine;
if (!ENGINES.has(engine)) {
  console.error(`--engine ${JSON.stringify(engine)}: ${KNOWN_ENGINES}`);
  process.exit(2);
}
const started = Date.now();
const report = await runChaos({ engine, durationMs: seconds * 1000, onEvent: (line) => console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s ${line}`) });
console.log(JSON.stringify({ ...report, failure: undefined }));
if (!report.ok) {
  console.error(`chaos:kv FAILED: ${report.failure}`);
  process.exit(1);
}
console.log(`chaos:kv passed: ${report.okOps} answered operations (${report.acked} acknowledged writes) under ${Object.values(report.faults).reduce((a, b) => a + b, 0)} faults, history linearizable, no acknowledged write lost`);
