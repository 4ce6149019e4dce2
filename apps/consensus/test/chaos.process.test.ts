import { expect, it } from 'vitest';
import { runChaos } from '../chaos/run.js';

it('a short chaos run: kills, pauses and cuts; linearizable, nothing acknowledged lost', async () => {
  const events: string[] = [];
  const report = await runChaos({ durationMs: 8000, onEvent: (l) => events.push(l) });
  if (!report.ok) throw new Error(`${report.failure}\nfaults:\n${events.join('\n')}`);
  expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(3);
  expect(report.okOps).toBeGreaterThan(50);
}, 120_000);
