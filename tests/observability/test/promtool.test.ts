import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const prometheusDir = join(import.meta.dirname, '..', '..', '..', 'infra', 'prometheus');

/** promtool (Debian's `prometheus` package; .ci/run installs it) run in `cwd`. */
function promtool(cwd: string, ...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool did not run (install Debian's prometheus package): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const scratch = mkdtempSync(join(tmpdir(), 'synod-promtool-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('promtool', () => {
  it('accepts the scrape config and the rules it loads', () => {
    const config = promtool(prometheusDir, 'check', 'config', 'prometheus.yml');
    expect(config.output).toContain('1 rule files found');
    expect(config.status, config.output).toBe(0);
    const rules = promtool(prometheusDir, 'check', 'rules', 'rules/synod.yml');
    expect(rules.status, rules.output).toBe(0);
  });

  it("passes every alert's unit test", () => {
    const r = promtool(prometheusDir, 'test', 'rules', 'tests/synod.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('fails the unit tests when an alert no longer fires as they expect (so the check can fail)', () => {
    const copy = join(scratch, 'prometheus');
    cpSync(prometheusDir, copy, { recursive: true });
    const rulesFile = join(copy, 'rules', 'synod.yml');
    const rules = readFileSync(rulesFile, 'utf8');
    const broken = rules.replace('synod_consensus_has_leader{app="consensus"} == 0', 'synod_consensus_has_leader{app="consensus"} == 2');
    expect(broken).not.toBe(rules);
    writeFileSync(rulesFile, broken);
    const r = promtool(copy, 'test', 'rules', 'tests/synod.test.yml');
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('SynodNoLeader');
    writeFileSync(rulesFile, rules.replace('expr: synod_consensus_has_leader', 'expr: synod_consensus_has_leader{'));
    expect(promtool(copy, 'check', 'rules', 'rules/synod.yml').status).not.toBe(0);
  });
});
