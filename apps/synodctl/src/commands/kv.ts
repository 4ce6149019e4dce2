import { Option, type Command } from 'commander';
import { MAX_RANGE_LIMIT, type Consistency, type SortOrder, type SortTarget } from '@synod/protocol';
import { collect, intArg } from '../args.js';
import { formatCompact, formatDelete, formatPut, formatRange, formatTxn, formatValues, formatWatchEvent, moreNote, rangeTable } from '../format.js';
import { parseTxn } from '../txn-syntax.js';
import type { Helpers } from './types.js';

interface ReadOpts {
  prefix?: boolean;
  revision?: number;
  consistency?: Consistency;
  limit?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
  printValueOnly?: boolean;
  sort?: SortTarget;
  order?: SortOrder;
}

const consistencyOption = () =>
  new Option('--consistency <mode>', 'linearizable (via the leader), lease (leader lease), or stale (any replica)').choices(['linearizable', 'lease', 'stale']);

export function registerKv(program: Command, h: Helpers): void {
  const kv = program.command('kv').description('read, write and watch keys');

  kv.command('get')
    .description('print a key (or, with --prefix, every key under it): the key on one line, its value on the next')
    .argument('<key>', 'the key, or the prefix with --prefix')
    .option('--prefix', 'every key starting with <key>')
    .option('--revision <n>', 'read the store as it was at this revision', intArg(0))
    .addOption(consistencyOption())
    .option('--limit <n>', 'at most this many keys', intArg(0, MAX_RANGE_LIMIT))
    .addOption(new Option('--keys-only', 'print keys without values').conflicts(['countOnly', 'printValueOnly']))
    .addOption(new Option('--count-only', 'print only how many keys match').conflicts('printValueOnly'))
    .option('--print-value-only', 'print only the values, one per line (simple output)')
    .action(
      h.run(async (ctx, [key], o: ReadOpts) => {
        const c = await ctx.client();
        const r = await c.range({ key: key as string, prefix: o.prefix, revision: o.revision, consistency: o.consistency, limit: o.limit, keysOnly: o.keysOnly, countOnly: o.countOnly });
        ctx.print(r, o.printValueOnly ? formatValues(r.kvs) : formatRange(r, o), [rangeTable(r, o)]);
        const more = moreNote(r);
        if (more && !o.countOnly) ctx.note(more);
      }),
    );

  kv.command('range')
    .description('print every key under a prefix, sorted')
    .argument('<prefix>', 'the key prefix ("" for every key)')
    .option('--limit <n>', 'at most this many keys', intArg(0, MAX_RANGE_LIMIT))
    .addOption(new Option('--sort <target>', 'sort by').choices(['key', 'createRevision', 'modRevision']).default('key'))
    .addOption(new Option('--order <order>', 'sort order').choices(['asc', 'desc']).default('asc'))
    .option('--revision <n>', 'read the store as it was at this revision', intArg(0))
    .addOption(consistencyOption())
    .option('--keys-only', 'print keys without values')
    .action(
      h.run(async (ctx, [prefix], o: ReadOpts) => {
        const c = await ctx.client();
        const r = await c.range({ key: prefix as string, prefix: true, limit: o.limit, sortBy: o.sort, order: o.order, revision: o.revision, consistency: o.consistency, keysOnly: o.keysOnly });
        ctx.print(r, formatRange(r, o), [rangeTable(r, o)]);
        const more = moreNote(r);
        if (more) ctx.note(more);
      }),
    );

  kv.command('put')
    .description('set a key (use -- before a value that starts with -)')
    .argument('<key>')
    .argument('<value>')
    .option('--lease <id>', 'attach the key to this lease', intArg(1))
    .option('--prev-kv', 'also print the previous version of the key')
    .action(
      h.run(async (ctx, [key, value], o: { lease?: number; prevKv?: boolean }) => {
        const c = await ctx.client();
        const r = await c.put(key as string, value as string, { lease: o.lease, prevKv: o.prevKv });
        ctx.print(r, formatPut(r));
      }),
    );

  kv.command('del')
    .alias('delete')
    .description('delete a key (or, with --prefix, every key under it); prints how many were deleted')
    .argument('<key>')
    .option('--prefix', 'every key starting with <key>')
    .option('--prev-kv', 'also print what was deleted')
    .action(
      h.run(async (ctx, [key], o: { prefix?: boolean; prevKv?: boolean }) => {
        const c = await ctx.client();
        const r = await c.delete(key as string, { prefix: o.prefix, prevKv: o.prevKv });
        ctx.print(r, formatDelete(r));
      }),
    );

  kv.command('txn')
    .description('compare, then apply one branch atomically')
    .option('--if <condition>', "'<key> <target> <op> <value>' (target: value|version|create|mod|lease|exists; op: = != < >); repeatable, all must hold", collect)
    .option('--then <operation>', "'put <key> <value>' | 'del <key> [--prefix]' | 'get <key> [--prefix] [--limit N]'; repeatable", collect)
    .option('--else <operation>', 'same forms as --then, applied when a condition fails; repeatable', collect)
    .addHelpText(
      'after',
      `
Keys and values may be JSON strings ("a b", ""); a value otherwise runs to the end of the text.
Example:
  synodctl kv txn --if 'cfg/leader exists = false' --then 'put cfg/leader n1' --else 'get cfg/leader'`,
    )
    .action(
      h.run(async (ctx, _args, o: { if?: string[]; then?: string[]; else?: string[] }) => {
        const txn = parseTxn(o.if ?? [], o.then ?? [], o.else ?? []);
        const c = await ctx.client();
        const r = await c.txn(txn);
        ctx.print(r, formatTxn(r));
      }),
    );

  kv.command('watch')
    .description('print changes of a key (or prefix) as they happen, until Ctrl-C')
    .argument('<key>')
    .option('--prefix', 'every key starting with <key>')
    .option('--from <revision>', 'start at this revision (default: the next change)', intArg(1))
    .option('--prev-kv', 'also print the previous value')
    .action(
      h.run(async (ctx, [key], o: { prefix?: boolean; from?: number; prevKv?: boolean }) => {
        const c = await ctx.client();
        const stop = new AbortController();
        const off = ctx.io.onInterrupt(() => stop.abort());
        try {
          const w = c.watch({ key: key as string, prefix: o.prefix, fromRevision: o.from, prevKv: o.prevKv, signal: stop.signal });
          for await (const ev of w) ctx.stream(ev, formatWatchEvent(ev));
        } finally {
          off();
        }
      }),
    );

  kv.command('compact')
    .description('drop the history at or below a revision (current values stay)')
    .argument('<revision>', 'the revision', intArg(1))
    .action(
      h.run(async (ctx, [revision]) => {
        const c = await ctx.client();
        const r = await c.compact(revision as number);
        ctx.print(r, formatCompact(r));
      }),
    );
}
