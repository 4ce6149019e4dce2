// `npm run chaos:locks -- --duration S`: the fenced-resource safety workload while lock managers,
// replicas (the leader too) and a lock-holding process are killed or paused; exits 1 on any violation.
import { parseArgs } from 'node:util';
import { runLockChaos } from './run.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '30' } } });
const seconds = Number(values.duration);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`--duration must be a positive number of seconds, got ${JSON.stringify(values.duration)}`);
  process.exit(2);
}
const started = Date.now();
const report = await runLockChaos({ durationMs: seconds * 1000, onEvent: (line) => console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s ${line}`) });
console.log(JSON.stringify({ ...report, failure: undefined }));
if (!report.ok) {
  console.error(`chaos:locks FAILED: ${report.failure}`);
  process.exit(1);
}
const faults = Object.values(report.faults).reduce((a, b) => a + b, 0);
console.log(
  `chaos:locks passed: ${report.commits} fenced commits (${report.staleBegins} stale begins, ${report.staleCommits} stale commits refused) under ${faults} faults; no interleaving, no stale token accepted, tokens strictly increasing`,
);
process.exit(0);
