import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workspaceRoot } from '@synod/testkit';
import type { FuzzReport } from '../src/index.js';

/**
 * `npm run fuzz` as CI runs it: the CLI (tools/fuzz.ts, which hands the fuzzer the replicas' own
 * peer decoders) against a real stack on each engine, briefly. A failure prints the run's output:
 * the seed, the counterexample and the command that replays it. FUZZ_SEED fixes the seed.
 */
const MINUTES = Number(process.env.FUZZ_MINUTES ?? 0.8);
/**
 * A bound on what comes on top of the fuzzing time (the CLI's start, two stacks started and
 * prepared, the checks): a guard against a hung run, generous for a machine shared with other work.
 */
const OVERHEAD_MS = 300_000;

function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(workspaceRoot, 'node_modules', '.bin', 'tsx'), ['--conditions=@synod/source', 'tools/fuzz.ts', ...args], { cwd: workspaceRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm run fuzz ${args.join(' ')} did not finish within ${timeoutMs} ms\n${output}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm run fuzz', () => {
  it('refuses bad arguments with status 2', async () => {
    const r = await runCli(['--minutes', 'soon'], 30_000);
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/--minutes must be a positive number/);
  });

  it(
    `a ${MINUTES}-minute run over both engines: every target gets inputs, no process crashes, every reply is an envelope, every check passes`,
    async () => {
      const seed = process.env.FUZZ_SEED ?? String(randomInt(2 ** 31));
      const dir = await mkdtemp(join(tmpdir(), 'synod-fuzz-report-'));
      try {
        const file = join(dir, 'report.json');
        const r = await runCli(['--minutes', String(MINUTES), '--seed', seed, '--engine', 'both', '--report', file], MINUTES * 60_000 + OVERHEAD_MS);
        const summary = r.output.split('\n').filter((l) => /^(raft|paxos): \d+ inputs|^fuzz /.test(l));
        console.log(summary.join('\n'));
        expect(r.code, `seed ${seed}:\n${r.output}`).toBe(0);
        const report = JSON.parse(await readFile(file, 'utf8')) as FuzzReport;
        expect(report.engines.map((e) => e.engine)).toEqual(['raft', 'paxos']);
        for (const e of report.engines) {
          expect(e.missing).toEqual([]);
          expect(e.crashes).toEqual([]);
          expect(e.checks.filter((c) => !c.ok)).toEqual([]);
          expect(e.checks.map((c) => c.name)).toContain('the 30 writes acknowledged before the run are readable at their revisions');
          expect(e.targets.filter((t) => t.failure !== undefined).map((t) => t.name)).toEqual([]);
          expect(e.targets.filter((t) => t.inputs === 0).map((t) => t.name), `seed ${seed}`).toEqual([]);
          expect(e.targets.map((t) => t.name)).toEqual(expect.arrayContaining(['subject peer', 'subject kvLeader', 'subject lockApi', 'api POST /v1/services/:service/:endpoint', 'ops GET /healthz']));
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    MINUTES * 60_000 + OVERHEAD_MS + 10_000,
  );
});
