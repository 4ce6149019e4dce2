import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import { SynodError, toSynodError } from '@synod/protocol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { httpServerInfo, trackRoutes, type HttpServerInfo } from './http-routes.js';

/** An app's own routes on the ops port (admin surfaces); see {@link startOpsServer}. */
export type OpsRoutes = FastifyPluginAsync;

/** Largest body the ops port accepts, in bytes (admin requests are a few fields). */
const OPS_BODY_LIMIT_BYTES = 16 * 1024;

export interface ReadinessCheck {
  name: string;
  ok(): boolean;
}

export interface OpsServer {
  port: number;
  /** Its port and routes, for the ready line. */
  info: HttpServerInfo;
  close(): Promise<void>;
}

/**
 * The operations HTTP server every app runs on `HTTP_PORT`: `GET /healthz` (the process is alive),
 * `GET /readyz` (every readiness check passes: connected and serving) and `GET /metrics`
 * (Prometheus text), plus the app's own `routes` (its admin surface). Every error, including a
 * malformed or oversized body, answers the catalog's envelope with the catalog's status.
 */
export async function startOpsServer(opts: {
  port: number;
  host?: string;
  checks: ReadinessCheck[];
  registry: Registry;
  log: Logger;
  routes?: OpsRoutes;
}): Promise<OpsServer> {
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: OPS_BODY_LIMIT_BYTES,
    // Errors raised before routing (a path that is not valid percent-encoding) skip the error handler.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const e = opsError(err);
      void reply.code(e.httpStatus).send(e.toEnvelope());
    },
  });
  trackRoutes(app);
  const log = opts.log.child({ component: 'ops-http' });
  app.setErrorHandler((err, _req, reply) => {
    const e = opsError(err);
    if (e.code === 'INTERNAL') log.error({ err }, 'ops request failed');
    void reply.code(e.httpStatus).send(e.toEnvelope());
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = Object.fromEntries(opts.checks.map((c) => [c.name, c.ok()]));
    const failing = Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name);
    if (failing.length === 0) return reply.code(200).send({ status: 'ready', checks });
    // A 503 is an error answer like any other: the envelope, with the checks beside it for people.
    const e = new SynodError('UNAVAILABLE', `not ready: ${failing.join(', ')}`, { details: { checks } });
    return reply.code(503).send({ ...e.toEnvelope(), status: 'not ready', checks });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });
  if (opts.routes) await app.register(opts.routes);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new SynodError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toEnvelope());
  });
  await app.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  log.info({ port }, 'ops server listening');
  return { port, info: httpServerInfo('ops', port, app), close: () => app.close() };
}

/** Every refusal of the ops server as the catalog envelope, with the catalog's status. */
function opsError(err: unknown): SynodError {
  if (err instanceof SynodError) return err;
  const fe = err as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new SynodError('PAYLOAD_TOO_LARGE', `the body is over ${OPS_BODY_LIMIT_BYTES} bytes`);
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new SynodError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (content-type: application/json)');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return new SynodError('BAD_REQUEST', fe.message ?? 'bad request');
  return toSynodError(err);
}
