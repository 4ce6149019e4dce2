import { Command, CommanderError, Option } from 'commander';
import { intArg } from './args.js';
import { commandGroups } from './commands/index.js';
import type { Helpers, Handler } from './commands/types.js';
import { CliContext, OUTPUT_FORMATS, type CliIo, type GlobalOptions, type OutputFormat } from './context.js';
import { EXIT_OK, EXIT_USAGE, UsageError, describeError } from './errors.js';

/** The package version (a test keeps it equal to package.json's). */
export const VERSION = '0.1.0';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/**
 * The whole command tree. Global options may come before or after the command
 * (`synodctl -w json kv get a` = `synodctl kv get a -w json`), and each also comes from the
 * environment (commander's `Option.env()`; the command line wins). Each group of commands lives in
 * its own module under commands/ and is listed in commands/index.ts.
 */
export function buildProgram(io: CliIo, onContext: (ctx: CliContext) => void): Command {
  const program = new Command('synodctl')
    .description('The command-line client of Synod: the store (keys, leases, cluster membership, snapshots), locks and the gateway\'s workers.')
    .version(VERSION)
    .addOption(new Option('--nats <urls>', 'NATS server URL(s), comma-separated').env('NATS_URL').default(DEFAULT_NATS_URL))
    .addOption(new Option('--user <name>', 'NATS user, for servers with per-user permissions').env('NATS_USER'))
    .addOption(new Option('--password <secret>', "the NATS user's password (prefer the environment: a command line is visible to other users)").env('NATS_PASSWORD'))
    .addOption(new Option('--tls-ca <file>', 'CA certificate(s) of the NATS servers: TLS').env('NATS_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', "client certificate: the CLI's NATS identity on servers that map certificates to users").env('NATS_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the private key of --tls-cert').env('NATS_TLS_KEY'))
    .addOption(new Option('--creds <file>', 'NATS credentials file (user JWT and NKey seed), for operator-mode servers').env('NATS_CREDS'))
    .addOption(new Option('--namespace <ns>', 'the Synod namespace: every subject starts with it').env('SYNOD_NAMESPACE').default('synod'))
    .addOption(new Option('--timeout <ms>', 'budget of each request, retries included, in ms').env('SYNODCTL_TIMEOUT_MS').argParser(intArg(1, 3_600_000)).default(5000))
    .addOption(
      new Option('-w, --write-out <format>', 'output: simple (for people), json (one document; streams: one object per line) or table (boxed, where a command has one)')
        .choices(OUTPUT_FORMATS)
        .env('SYNODCTL_WRITE_OUT')
        .default('simple'),
    )
    .addOption(new Option('--json', 'the same as -w json (its variable takes 1, true, 0 or false)').env('SYNODCTL_JSON'))
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // Errors are printed once, as one line, by runCli.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true);
  program.addHelpText(
    'after',
    `
Every global option may also come from the environment variable named beside it; the command line wins.
Errors print one line on stderr, "error: <CODE>: <message>", and exit 1; a bad command line exits 2
with "error: USAGE: ..." naming the argument, option or variable at fault.
Examples:
  synodctl kv put config/a 1
  synodctl kv get config/ --prefix -w table
  synodctl kv txn --if 'config/a version = 0' --then 'put config/a 1' --else 'get config/a'
  synodctl lock exec nightly-report -- ./report.sh      # the fencing token is in $SYNOD_LOCK_TOKEN
  synodctl cluster status
  source <(synodctl completion bash)`,
  );

  const helpers: Helpers = {
    run<O>(handler: Handler<O>) {
      return async (...raw: unknown[]) => {
        const command = raw.at(-1) as Command;
        const ctx = new CliContext(io, globalOptions(command));
        onContext(ctx);
        await handler(ctx, raw.slice(0, -2), command.opts() as O);
      };
    },
  };
  for (const register of commandGroups) register(program, helpers);
  // The root help lists each group with its commands.
  for (const group of program.commands) {
    if (group.commands.length > 0) group.summary(`${group.description()}: ${group.commands.map((c) => c.name()).join(', ')}`);
  }
  return program;
}

/** The global options as one command sees them (its own and its parents'), `--json` folded into `output`. */
function globalOptions(command: Command): GlobalOptions {
  const g = command.optsWithGlobals<Omit<GlobalOptions, 'output'> & { writeOut: OutputFormat; json?: boolean }>();
  return {
    nats: g.nats,
    user: g.user,
    password: g.password,
    tlsCa: g.tlsCa,
    tlsCert: g.tlsCert,
    tlsKey: g.tlsKey,
    creds: g.creds,
    namespace: g.namespace,
    timeout: g.timeout,
    output: outputFormat(command, g.writeOut),
  };
}

const SOURCE_RANK: Record<string, number> = { cli: 2, env: 1 };

/**
 * `-w` and its alias `--json`: the command line wins over the environment; the two disagreeing at
 * the same level is a usage error. Commander sets a boolean from any value of its variable, so
 * SYNODCTL_JSON is read here: 1 or true, 0 or false.
 */
function outputFormat(command: Command, writeOut: OutputFormat): OutputFormat {
  const jsonSource = command.getOptionValueSourceWithGlobals('json');
  if (jsonSource === undefined) return writeOut;
  if (jsonSource === 'env' && !envFlag('SYNODCTL_JSON')) return writeOut;
  const writeOutRank = SOURCE_RANK[command.getOptionValueSourceWithGlobals('writeOut') ?? 'default'] ?? 0;
  const jsonRank = SOURCE_RANK[jsonSource] ?? 0;
  if (writeOutRank > jsonRank || writeOut === 'json') return writeOut;
  if (writeOutRank < jsonRank) return 'json';
  const where = jsonSource === 'env' ? 'SYNODCTL_JSON and SYNODCTL_WRITE_OUT disagree' : '--json conflicts with';
  throw new UsageError(`${where} -w ${writeOut}`);
}

function envFlag(name: string): boolean {
  const raw = (process.env[name] ?? '').trim().toLowerCase();
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false' || raw === '') return false;
  throw new UsageError(`${name}=${JSON.stringify(process.env[name])}: expected 1, true, 0 or false`);
}

/** Runs one command line (without `node` and the script) and returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let ctx: CliContext | undefined;
  try {
    const program = buildProgram(io, (c) => (ctx = c));
    await program.parseAsync([...argv], { from: 'user' });
    return ctx?.exitCode ?? EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with status 0; a group without its subcommand shows help (on stderr).
      if (err.exitCode === 0) return EXIT_OK;
      if (err.code === 'commander.help' || err.code === 'commander.helpDisplayed') return EXIT_USAGE;
      return report(io, new UsageError(err.message.replace(/^error:\s*/i, '')));
    }
    return report(io, err);
  } finally {
    await ctx?.close().catch(() => undefined);
  }
}

function report(io: CliIo, err: unknown): number {
  const { line, exitCode } = describeError(err, (process.env.SYNODCTL_DEBUG ?? '') !== '');
  io.stderr(`${line}\n`);
  return exitCode;
}
