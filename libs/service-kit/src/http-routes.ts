import type { FastifyInstance } from 'fastify';

/** One registered route, as fastify knows it: `GET /healthz`, `POST /v1/services/:service/:endpoint`. */
export interface HttpRoute {
  method: string;
  url: string;
}

/** What a process serves over HTTP, reported in its ready line (`http`) so tools can find every route. */
export interface HttpServerInfo {
  /** `ops` for the server on HTTP_PORT; an app names its own (`api`). */
  server: string;
  port: number;
  /** `METHOD /url`, in registration order. */
  routes: string[];
}

const tracked = new WeakMap<FastifyInstance, HttpRoute[]>();

/**
 * Records every route registered on `app` from now on (fastify's onRoute hook, which also sees the
 * HEAD route fastify adds beside each GET). Call it before any route is added: tools such as the
 * fuzzer derive their targets from this list, so a route missing here would go untested.
 */
export function trackRoutes(app: FastifyInstance): void {
  const routes: HttpRoute[] = [];
  tracked.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
}

/** The routes `trackRoutes` recorded on `app` (empty if it was never tracked). */
export function routesOf(app: FastifyInstance): HttpRoute[] {
  return tracked.get(app) ?? [];
}

/** The ready line's description of one server. */
export function httpServerInfo(server: string, port: number, app: FastifyInstance): HttpServerInfo {
  return { server, port, routes: routesOf(app).map((r) => `${r.method} ${r.url}`) };
}
