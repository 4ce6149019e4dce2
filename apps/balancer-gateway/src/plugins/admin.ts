import { timingSafeEqual } from 'node:crypto';
import type { StrategyName } from '@synod/balancing';
import { SynodError } from '@synod/protocol';
import type { Logger, OpsRoutes } from '@synod/service-kit';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { ServiceParams, StrategyBody, WeightBody, WorkerParams } from '../api-schemas.js';

/** A change an operator asks for; `null` goes back to the reported weight or the configured strategy. */
export type AdminChange = { op: 'weight'; worker: string; weight: number | null } | { op: 'strategy'; service: string; strategy: StrategyName | null };

/** What this gateway's processes made of a change: the state it left, or why they refused it. */
export type AdminAnswer = { ok: true; state: Record<string, unknown> } | { ok: false; error: SynodError };

export interface AdminOptions {
  log: Logger;
  /** The bearer token admin calls must carry; unset closes every admin route (403). */
  adminToken?: string;
  /** Puts the change on the bus for every gateway process; resolves once this gateway's own processes applied it. */
  apply(change: AdminChange): Promise<AdminAnswer>;
}

/**
 * The admin routes (register it with the prefix `/v1/admin`), served on the ops port only: runtime
 * weights and strategies. One `onRequest` hook guards the whole scope. Closed by default: with no
 * ADMIN_TOKEN every call answers 403 naming the variable; with one, a call needs
 * `authorization: Bearer <token>`. A change travels on `<ns>.gateway.admin`, so every process of every
 * gateway instance applies it; the route answers once this gateway's own processes have. Every
 * change and every refused call is logged.
 */
export const adminPlugin: FastifyPluginAsync<AdminOptions> = async (app, opts) => {
  const log = opts.log.child({ component: 'admin' });
  const want = opts.adminToken === undefined ? undefined : Buffer.from(`Bearer ${opts.adminToken}`);
  app.addHook('onRequest', async (req) => {
    if (want === undefined) {
      throw new SynodError('FORBIDDEN', 'admin routes are closed: set ADMIN_TOKEN on the gateway, then send authorization: Bearer <ADMIN_TOKEN>');
    }
    const given = req.headers.authorization;
    const got = Buffer.from(typeof given === 'string' ? given : '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      log.warn({ method: req.method, url: req.url, ip: req.ip }, 'admin call refused: missing or wrong token');
      throw new SynodError('FORBIDDEN', 'admin routes need authorization: Bearer <ADMIN_TOKEN>');
    }
  });

  const parse = <T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> => {
    const r = schema.safeParse(value);
    if (!r.success) throw new SynodError('BAD_REQUEST', `invalid ${what}: ${z.prettifyError(r.error)}`);
    return r.data;
  };
  const apply = async (change: AdminChange): Promise<Record<string, unknown>> => {
    const answer = await opts.apply(change);
    if (!answer.ok) throw answer.error;
    log.info({ change, state: answer.state }, 'admin change applied');
    return answer.state;
  };

  app.put<{ Params: Record<string, string> }>('/workers/:id/weight', async (req) => {
    const { id } = parse(WorkerParams, req.params, 'worker id');
    const { weight } = parse(WeightBody, req.body, 'body');
    return apply({ op: 'weight', worker: id, weight });
  });
  app.delete<{ Params: Record<string, string> }>('/workers/:id/weight', async (req) => {
    const { id } = parse(WorkerParams, req.params, 'worker id');
    return apply({ op: 'weight', worker: id, weight: null });
  });
  app.put<{ Params: Record<string, string> }>('/services/:service/strategy', async (req) => {
    const { service } = parse(ServiceParams, req.params, 'service');
    const { strategy } = parse(StrategyBody, req.body, 'body');
    return apply({ op: 'strategy', service, strategy });
  });
  app.delete<{ Params: Record<string, string> }>('/services/:service/strategy', async (req) => {
    const { service } = parse(ServiceParams, req.params, 'service');
    return apply({ op: 'strategy', service, strategy: null });
  });
};

/** The admin plugin as the ops server mounts it, under `/v1/admin`. */
export function opsAdminRoutes(opts: AdminOptions): OpsRoutes {
  return async (app) => {
    await app.register(adminPlugin, { prefix: '/v1/admin', ...opts });
  };
}
