/**
 * synodctl as a library: `runCli(argv, io)` runs one command line with the output, environment and
 * interrupt hook the caller gives, and returns the exit status (the `synodctl` bin is this on
 * process.argv).
 */
export { runCli, VERSION } from './cli.js';
export type { CliIo, GlobalOptions } from './context.js';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';
