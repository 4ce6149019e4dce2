import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, runLockChaos } from '../src/locks/run.js';

/** A short chaos:locks run: every fault kind at least once, the fenced resource stays safe. */
describe('chaos:locks (short run)', () => {
  it('keeps the fenced resource safe through lock-manager, replica, leader and holder-process faults', async () => {
    const events: string[] = [];
    const report = await runLockChaos({ durationMs: 8000, onEvent: (line) => events.push(line) });
    console.log(events.join('\n'), '\n', JSON.stringify(report));
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    for (const kind of FAULT_KINDS) expect(report.faults[kind], kind).toBeGreaterThan(0);
    expect(report.commits).toBeGreaterThan(20);
    // The holder process was stopped inside a section past its TTL; others went on, and its late
    // commit was refused.
    expect(report.pauses.some((p) => p.lateCommit === 'rejected' && p.committedMeanwhile > 0)).toBe(true);
    expect(report.staleCommits).toBeGreaterThan(0);
  }, 90_000);
});
