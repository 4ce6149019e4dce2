import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { HTTP_HEADERS, RouteParams, SynodError, toSynodError } from '@synod/protocol';
import { trackRoutes, type Logger } from '@synod/service-kit';
import { z } from 'zod';
import { edgePlugin, type EdgeOptions } from './edge.js';
import { docsPage, openApiDocument } from './openapi.js';
import type { WorkerRegistry } from './registry.js';
import type { Router } from './router.js';
import { keyFromBody } from './settings.js';

export interface ApiOptions {
  router: Router;
  registry: WorkerRegistry;
  log: Logger;
  /** Largest accepted body, in bytes. */
  maxBodyBytes: number;
  /** Longest a request may wait for a worker, in ms; a client may ask for less with x-synod-timeout-ms. */
  requestTimeoutMs: number;
  now?: () => number;
  /** Header carrying the consistent-hash key (lower case). */
  hashHeader?: string;
  /** Dotted path of a body field carrying the key, used when the header is absent. */
  hashBodyField?: readonly string[];
  /** API keys, rate limit, CORS and access log of the public port. */
  edge: Omit<EdgeOptions, 'log'>;
  onResponse?: (service: string, endpoint: string, status: number, seconds: number) => void;
}

/** A request body that was checked to be JSON and is forwarded as the bytes the client sent. */
interface RawJson {
  raw: Buffer;
  json: unknown;
}

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = 1;

const TimeoutHeader = z.coerce.number().int().min(1);

/**
 * The gateway's public HTTP API as a fastify app: `POST /v1/services/:service/:endpoint` routes one
 * JSON request to a worker, `GET /v1/workers` lists the registry, `GET /v1/services` the services,
 * `/docs` documents it all (OpenAPI from the zod schemas). Admin routes are not here: they live on
 * the ops port (admin-api.ts). Every error is the catalog envelope with the catalog's status; every
 * 503 carries `retry-after`.
 */
export function buildApi(opts: ApiOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    genReqId: (req) => {
      const given = req.headers[HTTP_HEADERS.requestId];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
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
  app.register(routesPlugin, opts);
  return app;
}

/** Body parsing and the error envelope for the whole app (not encapsulated: fastify-plugin). */
const errorsPlugin = fp<{ log: Logger }>(async (app, { log }) => {
  app.removeAllContentTypeParsers();
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    const raw = typeof body === 'string' ? Buffer.from(body) : body;
    if (raw.length === 0) {
      done(new SynodError('BAD_REQUEST', 'the JSON body is empty'));
      return;
    }
    try {
      const json: unknown = JSON.parse(raw.toString('utf8'));
      done(null, { raw, json } satisfies RawJson);
    } catch (err) {
      done(new SynodError('BAD_REQUEST', `body is not valid JSON: ${(err as Error).message}`));
    }
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJson);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json$/, { parseAs: 'buffer' }, parseJson);
  app.setErrorHandler((err, req, reply) => {
    const e = fromFastifyError(err);
    if (e.code === 'INTERNAL') log.error({ err, reqId: req.id }, 'request failed');
    if (e.httpStatus === 503) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    void reply.code(e.httpStatus).header(HTTP_HEADERS.requestId, req.id).send(e.toEnvelope());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new SynodError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(e.toEnvelope());
  });
});

function fromFastifyError(err: unknown): SynodError {
  if (err instanceof SynodError) return err;
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SynodError('PAYLOAD_TOO_LARGE', fe.message ?? 'body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SynodError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (content-type: application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SynodError('BAD_REQUEST', 'the JSON body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SynodError('BAD_REQUEST', 'content-length does not match the body');
    default:
      if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        return new SynodError('BAD_REQUEST', fe.message ?? 'bad request');
      }
      return toSynodError(err);
  }
}

const routesPlugin: FastifyPluginAsync<ApiOptions> = async (app, opts) => {
  const now = opts.now ?? Date.now;
  const hashHeader = (opts.hashHeader ?? 'x-synod-key').toLowerCase();

  app.post<{ Params: Record<string, string>; Body: RawJson | undefined }>('/v1/services/:service/:endpoint', async (req, reply) => {
    const started = process.hrtime.bigint();
    const params = RouteParams.safeParse(req.params);
    if (!params.success) throw new SynodError('BAD_REQUEST', `invalid route: ${z.prettifyError(params.error)}`);
    const { service, endpoint } = params.data;
    if (req.body === undefined) throw new SynodError('BAD_REQUEST', 'a JSON body is required (content-type: application/json)');
    let timeoutMs = opts.requestTimeoutMs;
    const asked = req.headers[HTTP_HEADERS.timeoutMs];
    if (asked !== undefined) {
      const parsed = TimeoutHeader.safeParse(asked);
      if (!parsed.success) throw new SynodError('BAD_REQUEST', `${HTTP_HEADERS.timeoutMs} must be a positive integer (milliseconds)`);
      timeoutMs = Math.min(parsed.data, opts.requestTimeoutMs);
    }
    const routed = await opts.router.route({
      service,
      endpoint,
      body: req.body.raw,
      requestId: String(req.id),
      timeoutMs,
      clientDeadline: timeoutMs < opts.requestTimeoutMs,
      ...keyOf(req.headers, req.body.json),
    });
    void reply.header(HTTP_HEADERS.requestId, req.id);
    if (routed.worker !== undefined) void reply.header(HTTP_HEADERS.worker, routed.worker);
    const status = routed.ok ? 200 : routed.error.httpStatus;
    opts.onResponse?.(service, endpoint, status, Number(process.hrtime.bigint() - started) / 1e9);
    if (routed.ok) return reply.code(200).type('application/json').send(JSON.stringify(routed.result ?? null));
    if (routed.error.code === 'INTERNAL') opts.log.error({ err: routed.error, reqId: req.id }, 'routing failed');
    if (status === 503) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    return reply.code(status).send(routed.error.toEnvelope());
  });

  const keyOf = (headers: Record<string, string | string[] | undefined>, body: unknown): { key?: string } => {
    const h = headers[hashHeader];
    if (typeof h === 'string' && h !== '') return { key: h.slice(0, 1024) };
    if (opts.hashBodyField) {
      const key = keyFromBody(body, opts.hashBodyField);
      if (key !== undefined) return { key };
    }
    return {};
  };

  app.get('/v1/workers', async () => {
    const t = now();
    return { workers: opts.registry.view(t, (w) => opts.router.describe(w, t)) };
  });

  app.get('/v1/services', async () => {
    const t = now();
    return {
      services: opts.registry.services().map((service) => {
        const workers = opts.registry.workersOf(service);
        const endpoints = new Set<string>();
        for (const w of workers) for (const e of w.endpoints) endpoints.add(e);
        return {
          service,
          strategy: opts.router.strategyOf(service),
          workers: workers.length,
          ejected: workers.filter((w) => opts.router.describe(w, t).ejected === true).length,
          endpoints: [...endpoints],
        };
      }),
      pending: opts.router.pending,
      pendingPeak: opts.router.pendingPeak,
    };
  });

  const doc = openApiDocument({ hashHeader, apiKeys: opts.edge.apiKeys !== undefined, rateLimited: opts.edge.rateLimitPerSecond !== undefined });
  const page = docsPage(doc);
  app.get('/docs/json', async () => doc);
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
};
