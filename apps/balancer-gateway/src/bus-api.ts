import { STRATEGY_NAMES, isStrategyName } from '@synod/balancing';
import {
  GatewayAdminCommand,
  GatewayStatsRequest,
  SynodError,
  subjects,
  type GatewayAdminApplied,
  type GatewayStats,
} from '@synod/protocol';
import type { Router, WorkerEntry, WorkerRegistry } from '@synod/routing';
import { DropSummary, type Logger, type Msg, type NatsConnection, type Subscription } from '@synod/service-kit';
import { z } from 'zod';
import { serviceRows, workerRows } from './views.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Admin commands and stats requests are a few fields; anything bigger is refused unread. */
const MAX_MESSAGE_BYTES = 64 * 1024;

export interface GatewayBusOptions {
  nc: NatsConnection;
  namespace: string;
  /** This gateway instance's id, and this process's number in it (1 to GATEWAY_PROCESSES). */
  gateway: string;
  process: number;
  registry: WorkerRegistry;
  router: Router;
  log: Logger;
  now?: () => number;
  dropLogIntervalMs?: number;
}

/**
 * What one gateway process serves on the bus: it applies operators' changes from
 * `<ns>.gateway.admin` (every process of every gateway instance subscribes, no queue group) and
 * answers `<ns>.gateway.stats` with its view of workers and services. Input is checked with zod;
 * garbage, wrong types and oversized messages get the error envelope (when a reply is asked for)
 * and a line in a throttled summary, and the process keeps serving.
 */
export class GatewayBusApi {
  private readonly subs: Subscription[] = [];
  private readonly log: Logger;
  private readonly drops: DropSummary;
  private readonly now: () => number;

  constructor(private readonly opts: GatewayBusOptions) {
    this.log = opts.log.child({ component: 'gateway-bus' });
    this.now = opts.now ?? Date.now;
    this.drops = new DropSummary(this.log, {
      msg: 'invalid gateway admin or stats messages refused',
      ...(opts.dropLogIntervalMs === undefined ? {} : { intervalMs: opts.dropLogIntervalMs }),
    });
  }

  /** Subscribes; resolves once the server has the subscriptions. */
  async start(): Promise<void> {
    const { nc, namespace } = this.opts;
    const serve = (subject: string, handle: (data: Uint8Array) => unknown) =>
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            this.log.error({ err, subject }, 'subscription error');
            return;
          }
          this.answer(msg, handle(msg.data));
        },
      });
    this.subs.push(serve(subjects.gatewayAdmin(namespace), (data) => this.handleAdmin(data)));
    this.subs.push(serve(subjects.gatewayStats(namespace), (data) => this.handleStats(data)));
    await nc.flush();
  }

  stop(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
    this.drops.stop();
  }

  /** One admin message: `{ result: GatewayAdminApplied }`, or the envelope of why it was refused unread. */
  handleAdmin(data: Uint8Array): unknown {
    const command = this.read(data, GatewayAdminCommand, 'admin command');
    if (command instanceof SynodError) return command.toEnvelope();
    return { result: this.apply(command) };
  }

  /** One stats request: `{ result: GatewayStats }`, or the envelope of why it was refused. */
  handleStats(data: Uint8Array): unknown {
    const request = this.read(data, GatewayStatsRequest, 'stats request');
    if (request instanceof SynodError) return request.toEnvelope();
    const now = this.now();
    const view = { registry: this.opts.registry, router: this.opts.router };
    const stats: GatewayStats = {
      gateway: this.opts.gateway,
      process: this.opts.process,
      workers: workerRows(view, now, request.service),
      services: serviceRows(view, now, request.service),
      pending: this.opts.router.pending,
      pendingPeak: this.opts.router.pendingPeak,
    };
    return { result: stats };
  }

  /** Applies one change to this process's registry or router; refusals say why (NOT_FOUND, BAD_REQUEST). */
  apply(command: GatewayAdminCommand): GatewayAdminApplied {
    const { registry, router, gateway, process } = this.opts;
    const refuse = (error: SynodError): GatewayAdminApplied => {
      this.log.info({ from: command.from, id: command.id, op: command.op, code: error.code, reason: error.message }, 'admin change refused');
      return { gateway, process, ok: false, error: error.toEnvelope().error };
    };
    if (command.op === 'weight') {
      if (!registry.setWeightOverride(command.worker, command.weight ?? undefined)) return refuse(new SynodError('NOT_FOUND', `no live worker "${command.worker}"`));
      const w = registry.get(command.worker)!;
      this.log.info({ from: command.from, id: command.id, worker: w.id, weight: w.weight, override: command.weight }, 'worker weight set by admin');
      return { gateway, process, ok: true, state: weights(w) };
    }
    const { service, strategy } = command;
    if (strategy !== null && !isStrategyName(strategy)) {
      return refuse(new SynodError('BAD_REQUEST', `unknown strategy "${strategy}": expected one of ${STRATEGY_NAMES.join(', ')}`));
    }
    if (!router.setStrategy(service, strategy ?? undefined)) {
      return refuse(new SynodError('NOT_FOUND', `service "${service}" has no live worker and LB_STRATEGY_OVERRIDES does not name it (preset a strategy there)`));
    }
    this.log.info({ from: command.from, id: command.id, service, strategy: router.strategyOf(service), cleared: strategy === null }, 'service strategy set by admin');
    return { gateway, process, ok: true, state: { service, strategy: router.strategyOf(service), overridden: router.hasRuntimeStrategy(service) } };
  }

  private read<T extends z.ZodType>(data: Uint8Array, schema: T, what: string): z.output<T> | SynodError {
    const refuse = (error: SynodError): SynodError => {
      this.drops.record(`${error.code}: ${what}`, error.message);
      return error;
    };
    if (data.length > MAX_MESSAGE_BYTES) return refuse(new SynodError('PAYLOAD_TOO_LARGE', `${what} of ${data.length} bytes exceeds ${MAX_MESSAGE_BYTES}`));
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(data));
    } catch {
      return refuse(new SynodError('BAD_REQUEST', `${what} is not JSON`));
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) return refuse(new SynodError('BAD_REQUEST', `invalid ${what}: ${z.prettifyError(parsed.error)}`));
    return parsed.data;
  }

  private answer(msg: Msg, body: unknown): void {
    if (!msg.reply) return;
    try {
      msg.respond(encoder.encode(JSON.stringify(body)));
    } catch (err) {
      this.log.warn({ err, subject: msg.subject }, 'could not answer');
    }
  }
}

/** What an admin weight change leaves in force (the admin route's answer). */
export function weights(w: WorkerEntry): Record<string, unknown> {
  return { id: w.id, weight: w.weight, reportedWeight: w.reportedWeight, ...(w.weightOverride === undefined ? {} : { weightOverride: w.weightOverride }) };
}
