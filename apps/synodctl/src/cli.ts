import { Command, CommanderError } from 'commander';
import { intArg } from './args.js';
import { commandGroups } from './commands/index.js';
import type { Helpers, Handler } from './commands/types.js';
import { CliContext, type CliIo, type GlobalOptions } from './context.js';
import { EXIT_OK, EXIT_USAGE, UsageError, describeError } from './errors.js';

export const VERSION = '0.1.0';

/**
 * The whole command tree. Global options may come before or after the command
 * (`synodctl --json kv get a` = `synodctl kv get a --json`). Each group of commands lives in its
 * own module under commands/ and is listed in commands/index.ts.
 */
export function buildProgram(io: CliIo, onContext: (ctx: CliContext) => void): Command {
  const program = new Command('synodctl')
    .description('The command-line client of the Synod store: keys, leases, cluster membership, snapshots.')
    .version(VERSION)
    .option('--nats <url>', 'NATS server URL(s), comma-separated (env NATS_URL; credentials from env NATS_USER, NATS_PASSWORD)', io.env.NATS_URL?.trim() || 'nats://127.0.0.1:4222')
    .option('--tls-ca <file>', 'CA certificate(s) of the NATS servers (env NATS_TLS_CA)', io.env.NATS_TLS_CA?.trim() || undefined)
    .option('--tls-cert <file>', "client certificate: the CLI's NATS identity (env NATS_TLS_CERT)", io.env.NATS_TLS_CERT?.trim() || undefined)
    .option('--tls-key <file>', 'private key of --tls-cert (env NATS_TLS_KEY)', io.env.NATS_TLS_KEY?.trim() || undefined)
    .option('--creds <file>', 'NATS credentials file (user JWT and NKey seed) for operator-mode servers (env NATS_CREDS)', io.env.NATS_CREDS?.trim() || undefined)
    .option('--namespace <ns>', 'the store namespace (env SYNOD_NAMESPACE)', io.env.SYNOD_NAMESPACE?.trim() || 'synod')
    .option('--timeout <ms>', 'budget of each request, retries included, in ms', intArg(1, 3_600_000), 5000)
    .option('--json', 'machine-readable output: one JSON document (streams: one JSON object per line)', false)
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
Errors print one line on stderr, "error: <CODE>: <message>", and exit 1 (2 for a bad command line).
Examples:
  synodctl kv put config/a 1
  synodctl kv get config/ --prefix --json
  synodctl kv txn --if 'config/a version = 0' --then 'put config/a 1' --else 'get config/a'
  synodctl cluster status`,
  );

  const helpers: Helpers = {
    io,
    run<O>(handler: Handler<O>) {
      return async (...raw: unknown[]) => {
        const command = raw.at(-1) as Command;
        const opts = command.opts();
        const globals = command.optsWithGlobals<GlobalOptions & Record<string, unknown>>();
        const ctx = new CliContext(io, {
          nats: globals.nats,
          namespace: globals.namespace,
          timeout: globals.timeout,
          json: globals.json,
          tlsCa: globals.tlsCa,
          tlsCert: globals.tlsCert,
          tlsKey: globals.tlsKey,
          creds: globals.creds,
        });
        onContext(ctx);
        await handler(ctx, raw.slice(0, -2), opts as O);
      };
    },
  };
  for (const register of commandGroups) register(program, helpers);
  return program;
}

/** Runs one command line (without `node` and the script) and returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let ctx: CliContext | undefined;
  try {
    const program = buildProgram(io, (c) => (ctx = c));
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
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
  const { line, exitCode } = describeError(err, io.env.SYNODCTL_DEBUG !== undefined && io.env.SYNODCTL_DEBUG !== '');
  io.stderr(`${line}\n`);
  return exitCode;
}
