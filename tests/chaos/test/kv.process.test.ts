import { expect, it } from 'vitest';
import { ENGINES } from '@synod/cluster-kit';
import { runChaos } from '../src/kv/run.js';

it.each(ENGINES)('%s: a short chaos run: kills, pauses and cuts; linearizable, nothing acknowledged lost', async (engine) => {
  const events: string[] = [];
  const report = await runChaos({ durationMs: 8000, onEvent: (l) => events.push(l), engine });
  if (!report.ok) throw new Error(`${report.failure}\nfaults:\n${events.join('\n')}`);
  expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(3);
  expect(report.okOps).toBeGreaterThan(50);
}, 120_000);
