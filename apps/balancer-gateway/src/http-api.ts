import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { timingSafeEqual } from 'node:crypto';
import { HTTP_HEADERS, RouteParams, SynodError, toSynodError } from '@synod/protocol';
import { trackRoutes, type Logger } from '@synod/service-kit';
import { z } from 'zod';
import { ServiceParams, StrategyBody, WeightBody, WorkerParams } from './api-schemas.js';
import { docsPage, openApiDocument } from './openapi.js';
import type { WorkerEntry, WorkerRegistry } from './registry.js';
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
  /** When set, admin routes need `authorization: Bearer <token>`. */
  adminToken?: string;
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
 * The gateway's HTTP API as a fastify app: `POST /v1/services/:service/:endpoint` routes one JSON
 * request to a worker, `GET /v1/workers` lists the registry, `GET /v1/services` the services,
 * `/v1/admin/...` sets weights and strategies at runtime, `/docs` documents it all (OpenAPI from the
 * zod schemas). Every error is the catalog envelope with the catalog's status; every 503 carries
 * `retry-after`.
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

  const doc = openApiDocument({ hashHeader, adminToken: opts.adminToken !== undefined });
  const page = docsPage(doc);
  app.get('/docs/json', async () => doc);
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));

  // Admin routes: runtime weights and strategies.
  const checkAdmin = (headers: Record<string, string | string[] | undefined>): void => {
    if (opts.adminToken === undefined) return;
    const given = headers.authorization;
    const want = Buffer.from(`Bearer ${opts.adminToken}`);
    const got = Buffer.from(typeof given === 'string' ? given : '');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new SynodError('FORBIDDEN', 'admin routes need authorization: Bearer <ADMIN_TOKEN>');
  };
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
    opts.log.info({ worker: id, weight: w.weight, override: weight ?? null }, 'worker weight set by admin');
    return weights(w);
  };
  app.put<{ Params: Record<string, string>; Body: RawJson | undefined }>('/v1/admin/workers/:id/weight', async (req) => {
    checkAdmin(req.headers);
    const { id } = parse(WorkerParams, req.params, 'worker id');
    const { weight } = parse(WeightBody, req.body?.json, 'body');
    return setWeight(id, weight);
  });
  app.delete<{ Params: Record<string, string> }>('/v1/admin/workers/:id/weight', async (req) => {
    checkAdmin(req.headers);
    const { id } = parse(WorkerParams, req.params, 'worker id');
    return setWeight(id, undefined);
  });
  const strategyReply = (service: string, overridden: boolean) => ({ service, strategy: opts.router.strategyOf(service), overridden });
  app.put<{ Params: Record<string, string>; Body: RawJson | undefined }>('/v1/admin/services/:service/strategy', async (req) => {
    checkAdmin(req.headers);
    const { service } = parse(ServiceParams, req.params, 'service');
    const { strategy } = parse(StrategyBody, req.body?.json, 'body');
    opts.router.setStrategy(service, strategy);
    opts.log.info({ service, strategy }, 'service strategy set by admin');
    return strategyReply(service, true);
  });
  app.delete<{ Params: Record<string, string> }>('/v1/admin/services/:service/strategy', async (req) => {
    checkAdmin(req.headers);
    const { service } = parse(ServiceParams, req.params, 'service');
    opts.router.setStrategy(service, undefined);
    return strategyReply(service, false);
  });
};
