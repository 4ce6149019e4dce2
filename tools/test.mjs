// `npm test`: the one test command. Builds what the process tests start, then typecheck and lint,
// then the pure suites (in parallel), then the process suites (one at a time), and ends with one
// line adding up every suite: "tests: N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

// The project runs on Node 24. On an older Node, provision it (tools/node24.sh) and run again under
// it, unless provisioning is off.
const NODE_MAJOR = 24;
if (Number(process.versions.node.split('.')[0]) < NODE_MAJOR) {
  if (process.env.SYNOD_NODE_PROVISION === '0' || process.env.SYNOD_NODE_REEXEC === '1') {
    process.stderr.write(
      `npm test: Synod needs Node.js >= ${NODE_MAJOR}, this is ${process.version}. ` +
        `Run \`. tools/node24.sh\` to provision Node ${NODE_MAJOR} from the npm registry, or install it (see the README).\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`npm test: Node ${process.version} is older than ${NODE_MAJOR}; running again under the Node that tools/node24.sh provisions\n`);
  const again = spawnSync('bash', ['-c', '. tools/node24.sh && exec node tools/test.mjs "$@"', 'test', ...process.argv.slice(2)], {
    cwd: root,
    env: { ...process.env, SYNOD_NODE_REEXEC: '1' },
    stdio: 'inherit',
  });
  process.exit(again.status ?? 1);
}
process.stdout.write(`npm test: node ${process.version}\n`);
const results = join(root, 'tmp', 'test-results');
rmSync(results, { recursive: true, force: true });
const env = { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false' };

const stages = [
  ['build', ['nx', 'run-many', '-t', 'build']],
  ['typecheck and lint', ['nx', 'run-many', '-t', 'typecheck', 'lint']],
  ['typecheck tools and benchmarks', ['tsc', '-p', 'tsconfig.json']],
  ['lint tools and benchmarks', ['eslint', 'tools', 'bench', 'eslint.config.mjs', 'vitest.shared.mts']],
  // The copy-paste detector over the engines and the replica (.jscpd.json), as `npm run lint` runs it.
  ['copy-paste detector', ['jscpd', '-c', '.jscpd.json']],
  ['pure suites', ['nx', 'run-many', '-t', 'test']],
  ['process suites', ['nx', 'run-many', '-t', 'test-process', '--parallel=1']],
];

const failed = [];
for (const [name, [cmd, ...args]] of stages) {
  process.stdout.write(`\n=== ${name} ===\n`);
  const r = spawnSync(join(root, 'node_modules', '.bin', cmd), args, { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) {
    failed.push(name);
    // Suites cannot run against a build that failed.
    if (name === 'build') break;
  }
}

let passed = 0;
let failedTests = 0;
let skipped = 0;
const failures = [];
if (existsSync(results)) {
  for (const file of readdirSync(results)) {
    const report = JSON.parse(readFileSync(join(results, file), 'utf8'));
    passed += report.numPassedTests;
    failedTests += report.numFailedTests;
    skipped += report.numPendingTests + report.numTodoTests;
    // Name every failure in the closing lines, where a truncated CI log still shows them.
    for (const suite of report.testResults ?? []) {
      for (const t of suite.assertionResults ?? []) {
        if (t.status !== 'failed') continue;
        // eslint-disable-next-line no-control-regex -- strips the colour codes of vitest's messages
        const why = String(t.failureMessages?.[0] ?? '').split('\n')[0].replace(/\x1b\[[0-9;]*m/g, '').slice(0, 300);
        failures.push(`${file.replace(/\.json$/, '')}: ${t.fullName}\n    ${why}`);
      }
    }
  }
}
if (failures.length > 0) process.stdout.write(`\nfailed tests:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
if (failed.length > 0) process.stdout.write(`\nfailed stages: ${failed.join(', ')}\n`);
process.stdout.write(`\ntests: ${passed} passed, ${failedTests} failed, ${skipped} skipped\n`);
process.exit(failed.length > 0 || failedTests > 0 ? 1 : 0);
