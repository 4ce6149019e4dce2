import type { Command } from 'commander';
import { MAX_LEASE_TTL_MS, SynodError } from '@synod/protocol';
import { intArg } from '../args.js';
import { formatKeepAlive, formatLeaseGrant, formatLeaseRevoke, formatLeases, formatTimeToLive, leasesTable } from '../format.js';
import type { Helpers } from './types.js';

export function registerLease(program: Command, h: Helpers): void {
  const lease = program.command('lease').description('grant, inspect, keep alive and revoke leases');

  lease
    .command('grant')
    .description('create a lease; prints its id')
    .argument('<ttlMs>', 'time to live in milliseconds', intArg(1, MAX_LEASE_TTL_MS))
    .option('--id <id>', 'ask for this id (default: the store picks one)', intArg(1))
    .action(
      h.run(async (ctx, [ttlMs], o: { id?: number }) => {
        const c = await ctx.client();
        const r = await c.leaseGrant(ttlMs as number, { id: o.id });
        ctx.print(r, formatLeaseGrant(r));
      }),
    );

  lease
    .command('revoke')
    .description('delete a lease and every key attached to it')
    .argument('<id>', 'the lease id', intArg(1))
    .action(
      h.run(async (ctx, [id]) => {
        const c = await ctx.client();
        const r = await c.leaseRevoke(id as number);
        ctx.print({ id, ...r }, formatLeaseRevoke(id as number, r));
      }),
    );

  lease
    .command('ttl')
    .alias('timetolive')
    .description("print a lease's TTL, the time it has left and its keys")
    .argument('<id>', 'the lease id', intArg(1))
    .action(
      h.run(async (ctx, [id]) => {
        const c = await ctx.client();
        const r = await c.leaseTimeToLive(id as number);
        ctx.print(r, formatTimeToLive(r));
      }),
    );

  lease
    .command('list')
    .description('list every lease')
    .action(
      h.run(async (ctx) => {
        const c = await ctx.client();
        const leases = await c.leases();
        ctx.print({ leases }, formatLeases(leases), [leasesTable(leases)]);
      }),
    );

  lease
    .command('keepalive')
    .description('keep a lease alive (a keep-alive every TTL/3) until Ctrl-C; fails if the lease is lost')
    .argument('<id>', 'the lease id', intArg(1))
    .action(
      h.run(async (ctx, [id]) => {
        const c = await ctx.client();
        const handle = c.keepAlive(id as number, { onKeepAlive: (r) => ctx.stream(r, formatKeepAlive(r)) });
        const off = ctx.io.onInterrupt(() => handle.stop());
        try {
          await handle.done;
        } finally {
          off();
        }
        if (handle.signal.aborted) {
          const reason: unknown = handle.signal.reason;
          throw reason instanceof SynodError ? reason : new SynodError('INTERNAL', String(reason));
        }
      }),
    );
}
