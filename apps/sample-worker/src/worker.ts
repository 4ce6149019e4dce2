import { EchoInput, EchoOutput, HashInput, HashOutput, SleepInput, SleepOutput } from '@synod/protocol';
import { env } from '@synod/service-kit';
import { defineWorker } from '@synod/worker-sdk';
import { z } from 'zod';
import { echo, hash, sleepFor } from './endpoints.js';
import { Faults, seededRandom } from './faults.js';

const FAIL_RATE_EXPECTED = 'expected a number from 0 to 1';

/**
 * The reference worker on the SDK: `echo`, `hash` (CPU work) and `sleep` (honours the deadline),
 * all idempotent, plus knobs that degrade it on purpose for the gateway's tests and benchmarks.
 */
export const sampleWorker = defineWorker({
  service: 'sample',
  app: 'sample-worker',
  version: '0.1.0',
  env: {
    /** Extra time added to every job, in milliseconds (a slow worker). */
    WORKER_EXTRA_LATENCY_MS: env.int({ min: 0, max: 600_000, default: 0 }),
    /** Share of jobs answered with an injected INTERNAL error (a failing worker). */
    WORKER_FAIL_RATE: env.of(
      z
        .string({ error: FAIL_RATE_EXPECTED })
        .regex(/^\s*(\d+(\.\d*)?|\.\d+)\s*$/, FAIL_RATE_EXPECTED)
        .transform(Number)
        .pipe(z.number().min(0, FAIL_RATE_EXPECTED).max(1, FAIL_RATE_EXPECTED))
        .default(0),
    ),
    /** Seed of the failure draws, so a run's pattern of failures replays; unset = Math.random. */
    WORKER_FAIL_SEED: env.optionalInt({ min: 0, max: 2 ** 32 - 1 }),
  },
  setup: ({ config }) => ({
    faults: new Faults({
      extraLatencyMs: config.WORKER_EXTRA_LATENCY_MS,
      failRate: config.WORKER_FAIL_RATE,
      random: config.WORKER_FAIL_SEED === undefined ? Math.random : seededRandom(config.WORKER_FAIL_SEED),
    }),
  }),
  before: async ({ state, signal }) => {
    if (state.faults.active) await state.faults.apply(signal);
  },
  endpoints: {
    echo: { input: EchoInput, output: EchoOutput, idempotent: true, handler: (input, ctx) => echo(input, ctx.workerId) },
    hash: { input: HashInput, output: HashOutput, idempotent: true, handler: (input, ctx) => hash(input, ctx.workerId, ctx.deadline) },
    sleep: { input: SleepInput, output: SleepOutput, idempotent: true, handler: (input, ctx) => sleepFor(input, ctx.workerId, ctx.signal) },
  },
});
