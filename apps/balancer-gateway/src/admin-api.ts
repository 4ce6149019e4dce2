import { timingSafeEqual } from 'node:crypto';
import { SynodError } from '@synod/protocol';
import type { Logger, OpsRoutes } from '@synod/service-kit';
import { z } from 'zod';
import { ServiceParams, StrategyBody, WeightBody, WorkerParams } from './api-schemas.js';
import type { WorkerEntry, WorkerRegistry } from './registry.js';
import type { Router } from './router.js';

export interface AdminOptions {
  router: Router;
  registry: WorkerRegistry;
  log: Logger;
  /** The bearer token admin calls must carry; unset closes every admin route (403). */
  adminToken?: string;
}

/**
 * The gateway's admin routes, served on the ops port (HTTP_PORT) only, never on the public API
 * port: runtime weights and strategies. Closed by default: with no ADMIN_TOKEN configured every
 * call answers 403 naming the variable; with one, a call needs `authorization: Bearer <token>`.
 * Every change is logged.
 */
export function adminRoutes(opts: AdminOptions): OpsRoutes {
  const log = opts.log.child({ component: 'admin' });
  const want = opts.adminToken === undefined ? undefined : Buffer.from(`Bearer ${opts.adminToken}`);
  return async (app) => {
    // Every route of this plugin is an admin route, and the hook is scoped to them: it guards them
    // all. A test of the raw url let `/v1/%61dmin/...` through, which the router decodes to the
    // same admin route (found by the fuzzer).
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
    const weights = (w: WorkerEntry) => ({
      id: w.id,
      weight: w.weight,
      reportedWeight: w.reportedWeight,
      ...(w.weightOverride === undefined ? {} : { weightOverride: w.weightOverride }),
    });
    const setWeight = (id: string, weight: number | undefined) => {
      if (!opts.registry.setWeightOverride(id, weight)) throw new SynodError('NOT_FOUND', `no live worker "${id}"`);
      const w = opts.registry.get(id)!;
      log.info({ worker: id, weight: w.weight, override: weight ?? null }, 'worker weight set by admin');
      return weights(w);
    };
    const strategyReply = (service: string, overridden: boolean) => ({ service, strategy: opts.router.strategyOf(service), overridden });

    app.put<{ Params: Record<string, string> }>('/v1/admin/workers/:id/weight', async (req) => {
      const { id } = parse(WorkerParams, req.params, 'worker id');
      const { weight } = parse(WeightBody, req.body, 'body');
      return setWeight(id, weight);
    });
    app.delete<{ Params: Record<string, string> }>('/v1/admin/workers/:id/weight', async (req) => {
      const { id } = parse(WorkerParams, req.params, 'worker id');
      return setWeight(id, undefined);
    });
    app.put<{ Params: Record<string, string> }>('/v1/admin/services/:service/strategy', async (req) => {
      const { service } = parse(ServiceParams, req.params, 'service');
      const { strategy } = parse(StrategyBody, req.body, 'body');
      opts.router.setStrategy(service, strategy);
      log.info({ service, strategy }, 'service strategy set by admin');
      return strategyReply(service, true);
    });
    app.delete<{ Params: Record<string, string> }>('/v1/admin/services/:service/strategy', async (req) => {
      const { service } = parse(ServiceParams, req.params, 'service');
      opts.router.setStrategy(service, undefined);
      log.info({ service }, 'service strategy cleared by admin');
      return strategyReply(service, false);
    });
  };
}
