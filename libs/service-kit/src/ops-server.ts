import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { httpServerInfo, trackRoutes, type HttpServerInfo } from './http-routes.js';

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
 * (Prometheus text).
 */
export async function startOpsServer(opts: {
  port: number;
  host?: string;
  checks: ReadinessCheck[];
  registry: Registry;
  log: Logger;
}): Promise<OpsServer> {
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 1024 });
  trackRoutes(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = Object.fromEntries(opts.checks.map((c) => [c.name, c.ok()]));
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.type(opts.registry.contentType).send(body);
  });
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'no such route', retryable: false } });
  });
  await app.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  opts.log.child({ component: 'ops-http' }).info({ port }, 'ops server listening');
  return { port, info: httpServerInfo('ops', port, app), close: () => app.close() };
}
