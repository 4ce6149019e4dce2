import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import {
  GatewayAdminApplied,
  GatewayStats,
  ReplyEnvelope,
  ServiceName,
  SynodError,
  WorkerId,
  subjects,
  type GatewayAdminCommand,
} from '@synod/protocol';
import { NoRespondersError, type NatsConnection } from '@nats-io/transport-node';
import { UsageError } from '../errors.js';
import { table, type Table } from '../format.js';
import type { Helpers } from './types.js';
import { formatWorkers, groupByService, workersTable } from './workers-format.js';

const DEFAULT_WAIT_MS = 500;

/**
 * `synodctl gateway ...`: every gateway process of the namespace over the bus — its stats
 * (`<ns>.gateway.stats`) and runtime changes (`<ns>.gateway.admin`), which every process of every
 * gateway instance applies. Each process answers on its own; the command collects the answers for
 * `--wait` ms.
 */
export function registerGateway(program: Command, h: Helpers): void {
  const gateway = program.command('gateway').description("every gateway process over the bus: stats, runtime weights and strategies");
  const wait = (c: Command) => c.option('--wait <ms>', 'how long to collect the gateway processes\' answers', String(DEFAULT_WAIT_MS));

  wait(gateway.command('stats').description('each gateway process: its services (strategy, workers, ejected) and workers').option('--service <name>', "only this service's"))
    .action(
      h.run(async (ctx, _args, o: { service?: string; wait: string }) => {
        if (o.service !== undefined && !ServiceName.safeParse(o.service).success) throw new UsageError(`--service ${JSON.stringify(o.service)} is not a service name`);
        const answers = await collect(await ctx.bus(), subjects.gatewayStats(ctx.opts.namespace), { type: 'stats', v: 1, ...(o.service === undefined ? {} : { service: o.service }) }, waitMs(o.wait), GatewayStats);
        const gateways = answers.sort(byProcess);
        if (gateways.length === 0) throw new SynodError('UNAVAILABLE', `no gateway process answered on ${subjects.gatewayStats(ctx.opts.namespace)} within ${waitMs(o.wait)} ms`);
        const now = Date.now();
        const servicesTable = (g: GatewayStats): Table => [
          ['SERVICE', 'STRATEGY', 'WORKERS', 'EJECTED', 'ENDPOINTS'],
          ...g.services.map((s) => [s.service, s.strategy, String(s.workers), String(s.ejected), s.endpoints.join(',')]),
        ];
        ctx.print(
          { gateways },
          gateways
            .map(
              (g) =>
                `gateway ${g.gateway} process ${g.process} (pending ${g.pending}, peak ${g.pendingPeak})\n${indent(table(servicesTable(g)))}\n${indent(formatWorkers(groupByService(g.workers), now))}`,
            )
            .join('\n\n'),
          gateways.flatMap((g) => [
            [
              ['GATEWAY', 'PROCESS', 'PENDING', 'PEAK'],
              [g.gateway, String(g.process), String(g.pending), String(g.pendingPeak)],
            ],
            servicesTable(g),
            workersTable(groupByService(g.workers), now),
          ]),
        );
      }),
    );

  const change = async (ctx: Parameters<Parameters<Helpers['run']>[0]>[0], op: Pick<GatewayAdminCommand, 'op'> & Record<string, unknown>, wait: string): Promise<void> => {
    const command = { type: 'admin', v: 1, from: 'synodctl', id: randomBytes(6).toString('hex'), ...op };
    const answers = (await collect(await ctx.bus(), subjects.gatewayAdmin(ctx.opts.namespace), command, waitMs(wait), GatewayAdminApplied)).sort(byProcess);
    if (answers.length === 0) throw new SynodError('UNAVAILABLE', `no gateway process answered on ${subjects.gatewayAdmin(ctx.opts.namespace)} within ${waitMs(wait)} ms`);
    const rows: Table = [
      ['GATEWAY', 'PROCESS', 'RESULT'],
      ...answers.map((a) => [a.gateway, String(a.process), a.ok ? `applied ${JSON.stringify(a.state ?? {})}` : `refused: ${a.error?.code ?? '?'}: ${a.error?.message ?? ''}`]),
    ];
    ctx.print({ applied: answers }, table(rows), [rows]);
    if (answers.every((a) => !a.ok)) {
      const first = answers[0]!.error;
      throw first ? SynodError.fromBody(first) : new SynodError('INTERNAL', 'every gateway process refused the change');
    }
  };

  wait(gateway.command('weight').description("set a worker's weight on every gateway (`clear`: back to the weight it reports)").argument('<worker>').argument('<weight>', '0-1000, or clear'))
    .action(
      h.run(async (ctx, args, o: { wait: string }) => {
        const [worker, raw] = args as [string, string];
        if (!WorkerId.safeParse(worker).success) throw new UsageError(`${JSON.stringify(worker)} is not a worker id`);
        const weight = raw === 'clear' ? null : Number(raw);
        if (weight !== null && (!/^\d{1,4}$/.test(raw) || weight > 1000)) throw new UsageError(`weight ${JSON.stringify(raw)}: expected an integer from 0 to 1000, or clear`);
        await change(ctx, { op: 'weight', worker, weight }, o.wait);
      }),
    );

  wait(gateway.command('strategy').description("set a service's strategy on every gateway (`clear`: back to the configured one)").argument('<service>').argument('<strategy>', 'a strategy name, or clear'))
    .action(
      h.run(async (ctx, args, o: { wait: string }) => {
        const [service, strategy] = args as [string, string];
        if (!ServiceName.safeParse(service).success) throw new UsageError(`${JSON.stringify(service)} is not a service name`);
        await change(ctx, { op: 'strategy', service, strategy: strategy === 'clear' ? null : strategy }, o.wait);
      }),
    );
}

function waitMs(raw: string): number {
  const v = Number(raw);
  if (!/^\d{1,6}$/.test(raw) || v < 1) throw new UsageError(`--wait ${JSON.stringify(raw)}: expected a number of milliseconds from 1 to 999999`);
  return v;
}

const byProcess = (a: { gateway: string; process: number }, b: { gateway: string; process: number }): number =>
  a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : a.process - b.process;

const indent = (text: string): string =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

/** A schema of the protocol, as far as checking an answer needs it. */
interface Schema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false };
}

/**
 * Publishes `body` as a request on `subject` and collects every answer's result that `schema`
 * accepts for `ms` (one inbox under the connection's prefix, so a NATS user limited to its own
 * inboxes hears the answers).
 */
async function collect<T>(nc: NatsConnection, subject: string, body: unknown, ms: number, schema: Schema<T>): Promise<T[]> {
  const answers: T[] = [];
  const errors: string[] = [];
  const decoder = new TextDecoder();
  try {
    const replies = await nc.requestMany(subject, JSON.stringify(body), { strategy: 'timer', maxWait: ms, noMux: true });
    for await (const msg of replies) {
      let json: unknown;
      try {
        json = JSON.parse(decoder.decode(msg.data));
      } catch {
        continue; // Not JSON: not a gateway's answer.
      }
      const reply = ReplyEnvelope.safeParse(json);
      if (!reply.success) continue;
      if ('error' in reply.data) errors.push(`${reply.data.error.code}: ${reply.data.error.message}`);
      else {
        const parsed = schema.safeParse(reply.data.result);
        if (parsed.success) answers.push(parsed.data);
      }
    }
  } catch (err) {
    if (!(err instanceof NoRespondersError)) throw new SynodError('UNAVAILABLE', `request on ${subject}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (answers.length === 0 && errors.length > 0) throw new SynodError('BAD_REQUEST', `the gateways refused the request: ${errors[0]}`);
  return answers;
}
