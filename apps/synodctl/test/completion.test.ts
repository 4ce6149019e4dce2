import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';

async function script(shell: string): Promise<string> {
  let out = '';
  const code = await runCli(['completion', shell], { stdout: (s) => void (out += s), stderr: () => undefined, onInterrupt: () => () => undefined });
  expect(code).toBe(0);
  return out;
}

const hasZsh = spawnSync('zsh', ['--version']).status === 0;

/** The completions each shell offers for a command line whose last word is being typed. */
const cases: [string[], string[], string[]][] = [
  // words, must include, must not include
  [['synodctl', ''], ['kv', 'lease', 'cluster', 'snapshot', 'lock', 'workers', 'completion', '--nats', '-w'], ['get']],
  [['synodctl', 'kv', 'g'], ['get'], ['put']],
  [['synodctl', 'kv', 'get', '--p'], ['--prefix', '--print-value-only'], ['--lease']],
  [['synodctl', '-w', ''], ['simple', 'json', 'table'], ['kv']],
  [['synodctl', 'kv', 'get', 'a', '--consistency', ''], ['linearizable', 'lease', 'stale'], []],
  // The value of --namespace is not a command: "lock" after it is still the group's first word.
  [['synodctl', '--namespace', 'kv', 'lo'], ['lock'], []],
  [['synodctl', 'lock', 'exec', 'job', '--m'], ['--mode'], []],
  [['synodctl', 'completion', ''], ['bash', 'zsh'], []],
];

describe('synodctl completion', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synodctl-completion-'));
    await writeFile(join(dir, 'synodctl.bash'), await script('bash'));
    await writeFile(join(dir, 'synodctl.zsh'), await script('zsh'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(cases)('bash completes %j', (words, included, excluded) => {
    const out = execFileSync(
      'bash',
      ['-c', `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _synodctl; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', join(dir, 'synodctl.bash'), ...words],
      { encoding: 'utf8' },
    );
    const offered = out.split('\n').filter((w) => w !== '');
    for (const w of included) expect(offered, w).toContain(w);
    for (const w of excluded) expect(offered, w).not.toContain(w);
    expect(execFileSync('bash', ['-c', `source "$1"; complete -p synodctl`, 'bash', join(dir, 'synodctl.bash')], { encoding: 'utf8' })).toContain('-F _synodctl synodctl');
  });

  // zsh comes from Debian's package (.ci/run installs it); without it the zsh half is skipped, except in CI.
  it.skipIf(!hasZsh && process.env.CI !== 'true').each(cases)('zsh completes %j', (words, included, excluded) => {
    // compadd and compdef exist only inside zsh's completion system: stand-ins print what they get
    // (compadd, like the real one, only what matches the word being typed).
    const out = execFileSync(
      'zsh',
      ['-fc', `compdef() { print -r -- "compdef $*" >&2 }; source "$1"; shift; compadd() { [[ $1 == -- ]] && shift; local w; for w in "$@"; do [[ $w == "\${words[CURRENT]}"* ]] && print -r -- $w; done; return 0 }; words=("$@"); CURRENT=$#; _synodctl`, 'zsh', join(dir, 'synodctl.zsh'), ...words],
      { encoding: 'utf8' },
    );
    const offered = out.split('\n').filter((w) => w !== '');
    for (const w of included) expect(offered, w).toContain(w);
    for (const w of excluded) expect(offered, w).not.toContain(w);
  });

  it('the zsh script registers itself with compdef when sourced', async () => {
    const z = await script('zsh');
    expect(z.startsWith('#compdef synodctl\n')).toBe(true);
    expect(z).toContain('compdef _synodctl synodctl');
  });
});
