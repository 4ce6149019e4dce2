import { describe, expect, it } from 'vitest';
import { FuzzArgsError, parseFuzzArgs } from '../src/index.js';

const parse = (argv: string[]) => parseFuzzArgs(argv, () => 42);

describe('npm run fuzz arguments', () => {
  it('defaults: 10 minutes, a random seed, both engines', () => {
    expect(parse([])).toEqual({ minutes: 10, seed: 42, engines: ['raft', 'paxos'] });
  });

  it('reads every flag', () => {
    expect(parse(['--minutes', '0.5', '--seed=-17', '--engine', 'paxos', '--target', 'kvLeader', '--report', 'r.json'])).toEqual({
      minutes: 0.5,
      seed: -17,
      engines: ['paxos'],
      target: 'kvLeader',
      report: 'r.json',
    });
  });

  it.each([
    [['--minutes', 'abc'], /--minutes/],
    [['--minutes', '0'], /--minutes/],
    [['--minutes', '-1'], /--minutes/],
    [['--minutes', 'NaN'], /--minutes/],
    [['--seed', '1.5'], /--seed/],
    [['--seed', '99999999999'], /--seed/],
    [['--engine', 'zab'], /--engine/],
    [['--target', ''], /--target/],
    [['--verbose'], /Unknown option/],
    [['stray'], /positional/],
    [['--minutes'], /argument missing/],
  ])('refuses %j', (argv, message) => {
    expect(() => parse(argv)).toThrow(FuzzArgsError);
    expect(() => parse(argv)).toThrow(message);
  });
});
