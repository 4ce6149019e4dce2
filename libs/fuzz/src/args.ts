import { parseArgs } from 'node:util';
import type { Engine } from './stack.js';

export interface FuzzArgs {
  minutes: number;
  seed: number;
  engines: Engine[];
  target?: string;
  /** Where to write the report as JSON. */
  report?: string;
}

export const FUZZ_USAGE = `usage: npm run fuzz -- [--minutes M] [--seed S] [--engine raft|paxos|both] [--target NAME]

  --minutes M   fuzzing time over all engines, setup and checks not counted (default 10; fractions allowed)
  --seed S      seed of every generator (an integer; default: random, printed first); replays a run
  --engine E    the consensus engine(s) of the stack (default both, the time split between them)
  --target NAME only the targets whose name contains NAME (replaying one counterexample)
  --report FILE also write the report as JSON to FILE`;

export class FuzzArgsError extends Error {
  override readonly name = 'FuzzArgsError';
}

/** Strict: an unknown flag, a stray argument or a bad value throws FuzzArgsError (the CLI exits 2). */
export function parseFuzzArgs(argv: string[], randomSeed: () => number): FuzzArgs {
  let values: { minutes?: string; seed?: string; engine?: string; target?: string; report?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { minutes: { type: 'string' }, seed: { type: 'string' }, engine: { type: 'string' }, target: { type: 'string' }, report: { type: 'string' } },
    }));
  } catch (err) {
    throw new FuzzArgsError((err as Error).message);
  }
  const minutes = values.minutes === undefined ? 10 : Number(values.minutes);
  if (values.minutes !== undefined && !/^\d+(\.\d+)?$/.test(values.minutes.trim())) throw new FuzzArgsError(`--minutes must be a positive number, got ${JSON.stringify(values.minutes)}`);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new FuzzArgsError(`--minutes must be above 0 and at most 1440, got ${JSON.stringify(values.minutes)}`);
  let seed: number;
  if (values.seed === undefined) seed = randomSeed();
  else if (/^-?\d+$/.test(values.seed.trim()) && Number.isSafeInteger(Number(values.seed)) && Math.abs(Number(values.seed)) <= 2 ** 31) seed = Number(values.seed);
  else throw new FuzzArgsError(`--seed must be an integer from -2^31 to 2^31, got ${JSON.stringify(values.seed)}`);
  const engine = values.engine ?? 'both';
  if (!['raft', 'paxos', 'both'].includes(engine)) throw new FuzzArgsError(`--engine must be raft, paxos or both, got ${JSON.stringify(engine)}`);
  const engines: Engine[] = engine === 'both' ? ['raft', 'paxos'] : [engine as Engine];
  if (values.target !== undefined && values.target.trim() === '') throw new FuzzArgsError('--target must not be empty');
  if (values.report !== undefined && values.report.trim() === '') throw new FuzzArgsError('--report must name a file');
  return { minutes, seed, engines, ...(values.target === undefined ? {} : { target: values.target }), ...(values.report === undefined ? {} : { report: values.report }) };
}
