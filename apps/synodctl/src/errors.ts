import { SynodError } from '@synod/protocol';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A command line that cannot be run as written (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The one line printed on stderr for a failure, and the exit status: `error: <CODE>: <message>`,
 * CODE from the error catalog (USAGE for a bad command line). No stack trace, except for an
 * uncatalogued error when SYNODCTL_DEBUG is set.
 */
export function describeError(err: unknown, debug = false): { line: string; exitCode: number } {
  if (err instanceof UsageError) return { line: `error: USAGE: ${oneLine(err.message)}`, exitCode: EXIT_USAGE };
  if (err instanceof SynodError) return { line: `error: ${err.code}: ${oneLine(err.message)}`, exitCode: EXIT_FAILURE };
  const message = err instanceof Error ? err.message : String(err);
  const stack = debug && err instanceof Error && err.stack ? `\n${err.stack}` : '';
  return { line: `error: INTERNAL: ${oneLine(message)}${stack}`, exitCode: EXIT_FAILURE };
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').trim();
}
