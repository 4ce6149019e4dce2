import type { Command } from 'commander';
import { SynodError, type StatusResult } from '@synod/protocol';
import type { StoreClient } from '@synod/store-client';
import { clusterStatusTables, clusterView, formatClusterStatus, formatMembers, membersTable } from '../format.js';
import type { CliContext } from '../context.js';
import type { Helpers } from './types.js';

/** How long `cluster status` waits for each member's own status. */
const MEMBER_STATUS_MS = 1000;

/** What each member says of itself (or why it did not answer), asked in parallel. */
async function memberStatuses(c: StoreClient, ctx: CliContext, leader: StatusResult): Promise<Map<string, StatusResult | string>> {
  const own = new Map<string, StatusResult | string>();
  const ids = [...leader.membership.voters, ...leader.membership.learners];
  await Promise.all(
    ids.map(async (id) => {
      if (id === leader.id) return void own.set(id, leader);
      try {
        own.set(id, await c.status(id, { timeoutMs: Math.min(MEMBER_STATUS_MS, ctx.timeoutMs) }));
      } catch (err) {
        own.set(id, err instanceof SynodError ? err.code : String(err));
      }
    }),
  );
  return own;
}

export function registerCluster(program: Command, h: Helpers): void {
  const cluster = program.command('cluster').description('inspect and change the replica set');

  cluster
    .command('status')
    .description("the leader's view: term, commit and applied index, revision, and each member's role, progress and lag")
    .action(
      h.run(async (ctx) => {
        const c = await ctx.client();
        const leader = await c.status();
        const view = clusterView(leader, await memberStatuses(c, ctx, leader));
        ctx.print(view, formatClusterStatus(view), clusterStatusTables(view));
      }),
    );

  cluster
    .command('members')
    .description('the voters and learners, with replication progress')
    .action(
      h.run(async (ctx) => {
        const c = await ctx.client();
        const view = clusterView(await c.status());
        ctx.print({ leader: view.leader, members: view.members }, formatMembers(view), [membersTable(view)]);
      }),
    );

  cluster
    .command('add')
    .description('add a replica as a learner (it catches up without voting; promote it after)')
    .argument('<node>', 'the node id')
    .action(
      h.run(async (ctx, [node]) => {
        const c = await ctx.client();
        const r = await c.memberAddLearner(node as string);
        ctx.print({ node, change: 'addLearner', ...r }, `added ${String(node)} as a learner (log index ${r.index})`);
      }),
    );

  cluster
    .command('promote')
    .description('make a caught-up learner a voter')
    .argument('<node>', 'the node id')
    .action(
      h.run(async (ctx, [node]) => {
        const c = await ctx.client();
        const r = await c.memberPromote(node as string);
        ctx.print({ node, change: 'promote', ...r }, `promoted ${String(node)} to voter (log index ${r.index})`);
      }),
    );

  cluster
    .command('remove')
    .description('remove a voter or learner')
    .argument('<node>', 'the node id')
    .action(
      h.run(async (ctx, [node]) => {
        const c = await ctx.client();
        const r = await c.memberRemove(node as string);
        ctx.print({ node, change: 'remove', ...r }, `removed ${String(node)} (log index ${r.index})`);
      }),
    );

  cluster
    .command('transfer')
    .description('hand leadership to a voter (default: the most caught-up one) and wait until it leads')
    .argument('[node]', 'the node id')
    .action(
      h.run(async (ctx, [node]) => {
        const c = await ctx.client();
        const deadline = Date.now() + ctx.timeoutMs;
        const { to } = await c.transferLeadership(node as string | undefined);
        let leader: string | null = null;
        while (Date.now() < deadline) {
          try {
            const s = await c.status(undefined, { timeoutMs: Math.max(1, deadline - Date.now()) });
            leader = s.leader;
            if (s.id === to && s.role === 'leader') {
              ctx.print({ to, leader: to }, `leadership transferred to ${to}`);
              return;
            }
          } catch {
            // an election is running: ask again
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new SynodError('UNAVAILABLE', `leadership transfer to ${to} started, but ${leader ?? 'no node'} leads after ${ctx.timeoutMs} ms`);
      }),
    );
}
