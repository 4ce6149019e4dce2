import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { HTTP_HEADERS } from '@synod/protocol';
import { trackRoutes, type Logger } from '@synod/service-kit';
import { docsPlugin } from './plugins/docs.js';
import { edgePlugin, type EdgeOptions } from './plugins/edge.js';
import { errorsPlugin, fromFastifyError } from './plugins/errors.js';
import { registryViewsPlugin } from './plugins/registry-views.js';
import { serviceProxyPlugin, type ServiceProxyOptions } from './plugins/service-proxy.js';
import type { ProcessView } from './views.js';

export interface ApiOptions {
  log: Logger;
  /** Largest accepted body, in bytes. */
  maxBodyBytes: number;
  /** The service proxy (router, timeouts, hashing key, its metrics). */
  proxy: Omit<ServiceProxyOptions, 'log'>;
  /** What `GET /v1/workers` and `GET /v1/services` show. */
  view: ProcessView;
  /** API keys, rate limit, CORS and access log of the public port. */
  edge: Omit<EdgeOptions, 'log'>;
}

/**
 * The gateway's public HTTP API, a composition of plugins: errors (body reading, the error
 * envelope), edge (API keys, rate limit, CORS, access log), the service proxy
 * (`POST /v1/services/:service/:endpoint`), the registry views (`GET /v1/workers`,
 * `GET /v1/services`) and the docs (`/docs`). Admin routes are not here: they live on the ops port.
 */
export function buildApi(opts: ApiOptions): FastifyInstance {
  // Request ids only need to be unique: a random prefix per process and a counter (no UUID per request).
  const prefix = randomBytes(6).toString('hex');
  let seq = 0;
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    genReqId: (req) => {
      const given = req.headers[HTTP_HEADERS.requestId];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : `${prefix}-${(++seq).toString(36)}`;
    },
    // Errors fastify raises before routing (a path that is not valid percent-encoding) skip the
    // error handler: without this they answer fastify's own body instead of the catalog envelope.
    frameworkErrors: (err, req, reply: FastifyReply) => {
      const e = fromFastifyError(err);
      void reply.code(e.httpStatus).header(HTTP_HEADERS.requestId, req.id).send(e.toEnvelope());
    },
  });
  trackRoutes(app);
  app.register(errorsPlugin, { log: opts.log });
  app.register(edgePlugin, { log: opts.log, ...opts.edge });
  app.register(serviceProxyPlugin, { log: opts.log, ...opts.proxy });
  app.register(registryViewsPlugin, opts.view);
  app.register(docsPlugin, { hashHeader: opts.proxy.hashHeader, apiKeys: opts.edge.apiKeys !== undefined, rateLimited: opts.edge.rateLimitPerSecond !== undefined });
  return app;
}
