import { Argument, type Command, type Option } from 'commander';
import type { Helpers } from './types.js';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** What completion needs to know of the command tree, read from commander's own definitions. */
interface Tree {
  /** Per command path (`''`, `' kv'`, `' kv get'`): the words that may follow it. */
  candidates: Map<string, string[]>;
  /** Every option that takes a value, and the values it accepts when it has choices. */
  valueOptions: Map<string, readonly string[]>;
}

function flagsOf(o: Option): string[] {
  return [o.long, o.short].filter((f): f is string => f !== undefined);
}

function readTree(root: Command): Tree {
  const candidates = new Map<string, string[]>();
  const valueOptions = new Map<string, readonly string[]>();
  // Global options may come before or after any command (--version only matters at the root).
  const globals = root.options.filter((o) => o.long !== '--version').flatMap(flagsOf);
  const visit = (cmd: Command, path: string): void => {
    for (const o of cmd.options) {
      if (!o.required && !o.optional) continue;
      for (const f of flagsOf(o)) valueOptions.set(f, [...new Set([...(valueOptions.get(f) ?? []), ...(o.argChoices ?? [])])]);
    }
    const subcommands = cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    const own = cmd === root ? [] : cmd.options.flatMap(flagsOf);
    // commander answers `help [command]` at the root and --help everywhere without listing them as commands or options.
    const extra = cmd === root ? ['help', '--help', '--version'] : ['--help'];
    const choices = cmd.registeredArguments.flatMap((a: Argument) => a.argChoices ?? []);
    candidates.set(path, [...subcommands, ...choices, ...own, ...globals, ...extra]);
    for (const c of cmd.commands) for (const name of [c.name(), ...c.aliases()]) visit(c, `${path} ${name}`);
  };
  visit(root, '');
  return { candidates, valueOptions };
}

const caseLabel = (words: Iterable<string>) => [...words].map((w) => `"${w}"`).join('|');

/**
 * The completion script for a shell. Both walk the words before the cursor: a word that extends a
 * known command path moves into that command, the word after an option that takes a value is
 * skipped, and after `--` (lock exec) the shell's own command and file completion takes over.
 * The word after such an option completes to the option's choices, if it has any.
 */
export function completionScript(root: Command, shell: Shell): string {
  const name = root.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const { candidates, valueOptions } = readTree(root);
  const paths = [...candidates.keys()].filter((p) => p !== '');
  const withChoices = [...valueOptions].filter(([, c]) => c.length > 0);
  const valueFlags = caseLabel(valueOptions.keys());
  if (shell === 'bash') {
    return `# ${name} completion for bash. Load it with: source <(${name} completion bash)
${fn}() {
  local cur prev w i cmdpath="" cands=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${withChoices.map(([flag, c]) => `    "${flag}") COMPREPLY=($(compgen -W "${c.join(' ')}" -- "$cur")); return ;;`).join('\n')}
    ${valueFlags}) COMPREPLY=(); return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --)
        if ((i == COMP_CWORD - 1)); then COMPREPLY=($(compgen -c -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
        return ;;
      ${valueFlags}) ((i++)); continue ;;
    esac
    case "$cmdpath $w" in
      ${caseLabel(paths)}) cmdpath="$cmdpath $w" ;;
    esac
  done
  case "$cmdpath" in
${[...candidates].map(([path, words]) => `    "${path}") cands="${words.join(' ')}" ;;`).join('\n')}
  esac
  COMPREPLY=($(compgen -W "$cands" -- "$cur"))
}
complete -F ${fn} ${name}
`;
  }
  return `#compdef ${name}
# ${name} completion for zsh. Load it with: source <(${name} completion zsh)
# (or save it as ${fn} in a folder on $fpath, before compinit runs).
${fn}() {
  local cur prev w i cmdpath=""
  local -a cands
  cur="\${words[CURRENT]}"
  prev="\${words[CURRENT-1]}"
  case "$prev" in
${withChoices.map(([flag, c]) => `    ("${flag}") compadd -- ${c.join(' ')}; return ;;`).join('\n')}
    (${valueFlags}) return ;;
  esac
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    case "$w" in
      (--)
        if ((i == CURRENT - 1)); then _command_names; else _files; fi
        return ;;
      (${valueFlags}) ((i++)); continue ;;
    esac
    case "$cmdpath $w" in
      (${caseLabel(paths)}) cmdpath="$cmdpath $w" ;;
    esac
  done
  case "$cmdpath" in
${[...candidates].map(([path, words]) => `    ("${path}") cands=(${words.join(' ')}) ;;`).join('\n')}
  esac
  compadd -- "\${cands[@]}"
}
if [ "$funcstack[1]" = "${fn}" ]; then
  ${fn} "$@"
else
  compdef ${fn} ${name}
fi
`;
}

export function registerCompletion(program: Command, h: Helpers): void {
  program
    .command('completion')
    .description('print a shell completion script (bash: source <(synodctl completion bash); zsh: source <(synodctl completion zsh))')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action(
      h.run(async (ctx, [shell]) => {
        ctx.io.stdout(completionScript(program, shell as Shell));
      }),
    );
}
