import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynodError, type EchoInput, type EchoOutput, type HashInput, type HashOutput, type SleepInput, type SleepOutput } from '@synod/protocol';

/** The sample service's endpoints, free of the bus so they can be tested alone. */
export function echo(input: EchoInput, worker: string): EchoOutput {
  return { message: input.message, worker };
}

/** Rounds of `hash` between two looks at the clock. */
const HASH_ROUNDS_PER_CHECK = 1024;

/**
 * CPU work of a requested size: `rounds` chained SHA-256 digests, the first over `data`. Stops with
 * DEADLINE_EXCEEDED once `deadline` (ms since the epoch) has passed: the loop never yields, so no
 * timer or abort signal could stop it, and a million rounds would hold the worker (its pings and
 * heartbeats included) long after the caller gave up.
 */
export function hash(input: HashInput, worker: string, deadline = Number.POSITIVE_INFINITY, now: () => number = Date.now): HashOutput {
  let digest = createHash('sha256').update(input.data).digest();
  for (let i = 1; i < input.rounds; i++) {
    if (i % HASH_ROUNDS_PER_CHECK === 0 && now() > deadline) {
      throw new SynodError('DEADLINE_EXCEEDED', `the deadline passed after ${i} of ${input.rounds} rounds`);
    }
    digest = createHash('sha256').update(digest).digest();
  }
  return { digest: digest.toString('hex'), rounds: input.rounds, worker };
}

/** Waits `ms`, or fails with the abort reason when the request's deadline passes first. */
export async function sleepFor(input: SleepInput, worker: string, signal: AbortSignal): Promise<SleepOutput> {
  try {
    await sleep(input.ms, undefined, { signal });
  } catch (err) {
    if (signal.aborted) throw signal.reason instanceof SynodError ? signal.reason : new SynodError('DEADLINE_EXCEEDED', 'sleep aborted');
    throw err;
  }
  return { sleptMs: input.ms, worker };
}
