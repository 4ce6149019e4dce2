import type { FastifyPluginAsync } from 'fastify';
import { serviceRows, workerRows, type ProcessView } from '../views.js';

/** `GET /v1/workers` (the registry as this process sees it) and `GET /v1/services` (services, strategies, the queue). */
export const registryViewsPlugin: FastifyPluginAsync<ProcessView & { now?: () => number }> = async (app, opts) => {
  const now = opts.now ?? Date.now;
  app.get('/v1/workers', async () => ({ workers: workerRows(opts, now()) }));
  app.get('/v1/services', async () => ({ services: serviceRows(opts, now()), pending: opts.router.pending, pendingPeak: opts.router.pendingPeak }));
};
