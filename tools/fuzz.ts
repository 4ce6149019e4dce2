// `npm run fuzz -- [--minutes M] [--seed S] [--engine raft|paxos|both] [--target NAME] [--report FILE]`:
// property-based fuzzing of a real stack (libs/fuzz). Exit 0 when every target held, 1 on a
// failure (the seed and the counterexample are printed), 2 on bad arguments.
import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { FUZZ_USAGE, FuzzArgsError, parseFuzzArgs, type FuzzArgs } from '@synod/fuzz/args';

let args: FuzzArgs;
try {
  args = parseFuzzArgs(process.argv.slice(2), () => randomInt(2 ** 31));
} catch (err) {
  if (!(err instanceof FuzzArgsError)) throw err;
  console.error(`fuzz: ${err.message}\n${FUZZ_USAGE}`);
  process.exit(2);
}

// Loaded once the arguments are good: the fuzzer, and the engines' peer decoders (which tell a
// malformed frame from a forged one; each engine's lib exports its wire codec).
const [{ formatReport, runFuzz }, { decodePeerMessage }, { decodePaxosMessage }] = await Promise.all([
  import('@synod/fuzz'),
  import('@synod/raft'),
  import('@synod/paxos'),
]);

const replay = (engine: string, target?: string): string =>
  `npm run fuzz -- --seed ${args.seed} --engine ${engine === 'both' ? (args.engines.length === 2 ? 'both' : args.engines[0]) : engine} --minutes ${args.minutes}${target ? ` --target '${target}'` : args.target ? ` --target '${args.target}'` : ''}`;

console.log(`fuzz: seed ${args.seed}, ${args.minutes} min over ${args.engines.join(' and ')} (replay: ${replay('both')})`);
const report = await runFuzz({
  engines: args.engines,
  minutes: args.minutes,
  seed: args.seed,
  ...(args.target === undefined ? {} : { target: args.target }),
  peerOracles: { raft: { decode: decodePeerMessage }, paxos: { decode: decodePaxosMessage } },
  log: (line) => console.log(line),
});
console.log(formatReport(report, replay));
if (args.report) await writeFile(args.report, `${JSON.stringify(report, null, 2)}\n`);
process.exit(report.ok ? 0 : 1);
