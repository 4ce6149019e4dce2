import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynodError, type EchoInput, type EchoOutput, type HashInput, type HashOutput, type SleepInput, type SleepOutput } from '@synod/protocol';

/** The sample service's endpoints, free of the bus so they can be tested alone. */
export function echo(input: EchoInput, worker: string): EchoOutput {
  return { message: input.message, worker };
}

/** CPU work of a requested size: `rounds` chained SHA-256 digests, the first over `data`. */
export function hash(input: HashInput, worker: string): HashOutput {
  let digest = createHash('sha256').update(input.data).digest();
  for (let i = 1; i < input.rounds; i++) digest = createHash('sha256').update(digest).digest();
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
