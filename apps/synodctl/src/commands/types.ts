import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** A command's work: positional arguments as commander parsed them, then the command's own options. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler<O = any> = (ctx: CliContext, args: unknown[], opts: O) => Promise<void>;

export interface Helpers {
  /** Turns a handler into a commander action (context from the global options, cleanup after). */
  run<O>(handler: Handler<O>): (...args: unknown[]) => Promise<void>;
}

/** Adds one group of commands (`kv`, `lease`, ...) to the program. */
export type CommandGroup = (program: Command, helpers: Helpers) => void;
