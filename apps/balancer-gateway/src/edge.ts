import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { SynodError } from '@synod/protocol';
import type { Logger } from '@synod/service-kit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';

/**
 * `API_KEYS_FILE`: JSON `{ "keys": [{ "name": "billing", "sha256": "<hex of the key's SHA-256>" }] }`.
 * Only digests are stored, so the file is no secret worth stealing; `tools/api-key.mjs <name>`
 * makes a key and its entry.
 */
export const ApiKeysFileSchema = z.object({
  keys: z
    .array(
      z.object({
        name: z.string().regex(/^[\w.@-]{1,64}$/, 'expected a key name: 1-64 letters, digits, _, ., @ or -'),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the key\'s SHA-256 as 64 lower-case hex digits'),
      }),
    )
    .min(1, 'expected at least one key')
    .max(10_000),
});

/** The digests of the API keys, to the key's name. */
export type ApiKeys = ReadonlyMap<string, string>;

/** Reads and checks `API_KEYS_FILE` (an env schema: a bad file fails the configuration, naming the variable). */
export const ApiKeysFile = z
  .string()
  .max(4096)
  .transform((path, ctx): ApiKeys => {
    let raw: string;
    try {
      raw = readFileSync(path, 'utf8');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected a readable JSON file of API keys (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: ${path})` });
      return z.NEVER;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected JSON in ${path}: ${(err as Error).message}` });
      return z.NEVER;
    }
    const parsed = ApiKeysFileSchema.safeParse(json);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `expected { "keys": [{ "name", "sha256" }] } in ${path}: ${z.prettifyError(parsed.error)}` });
      return z.NEVER;
    }
    return new Map(parsed.data.keys.map((k) => [k.sha256, k.name]));
  })
  .optional();

/** `CORS_ORIGINS`: comma-separated origins (`https://app.example.com`) allowed to call the API from a browser, or `*`. */
export const CorsOrigins = z
  .string()
  .transform((s, ctx) => {
    const origins = s.split(',').map((o) => o.trim()).filter((o) => o !== '');
    for (const o of origins) {
      if (o !== '*' && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o)) {
        ctx.addIssue({ code: 'custom', message: `expected comma-separated origins like https://app.example.com (or *), got "${o}"` });
        return z.NEVER;
      }
    }
    if (origins.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected at least one origin' });
      return z.NEVER;
    }
    return origins;
  })
  .optional();

export interface EdgeOptions {
  log: Logger;
  /** API keys required on the `/v1/` routes; unset: none. */
  apiKeys?: ApiKeys;
  /** Requests per second per client (API key, else address); unset: no limit. */
  rateLimitPerSecond?: number;
  /** Origins allowed by CORS; unset: no CORS headers at all. */
  corsOrigins?: string[];
  /** One `info` line per request (request id, status, duration). */
  accessLog: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The name of the API key the request authenticated with. */
    apiKey?: string;
  }
}

/**
 * The routes API keys guard: everything under /v1/ (service calls and the registry views), not
 * /docs. Judged on the route the router matched, not the raw url: the router decodes
 * percent-escapes, so `/%761/workers` reaches `GET /v1/workers`, and a prefix test of the raw url
 * let it through without a key (found by the fuzzer).
 */
const guarded = (req: FastifyRequest): boolean => routedPath(req).startsWith('/v1/');

/** The matched route's path; for a request no route matches (or CORS's catch-all preflight route), the decoded path. */
function routedPath(req: FastifyRequest): string {
  const route = req.routeOptions.url;
  if (route !== undefined && !route.includes('*')) return route;
  const path = req.url.split('?')[0]!;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length);
  return undefined;
}

/**
 * What the public port does for every request before it is routed, in order: API keys, then the
 * per-client rate limit (keyed on the key's name, else the client address, so an unauthenticated
 * flood is refused by the cheap check first), CORS, and one access-log line per answer.
 */
export const edgePlugin = fp<EdgeOptions>(async (app, opts) => {
  if (opts.apiKeys !== undefined) {
    const keys = opts.apiKeys;
    // A browser's CORS preflight never carries credentials (the Fetch standard leaves them out): with
    // CORS on it passes without a key, to reach no handler and answer only the CORS policy.
    const preflightsOpen = opts.corsOrigins !== undefined;
    app.addHook('onRequest', async (req) => {
      if (!guarded(req) || (preflightsOpen && req.method === 'OPTIONS')) return;
      const key = presentedKey(req);
      if (key === undefined) throw new SynodError('UNAUTHORIZED', 'an API key is required: send x-api-key: <key> (or authorization: Bearer <key>)');
      const name = key.length <= 1024 ? keys.get(createHash('sha256').update(key).digest('hex')) : undefined;
      if (name === undefined) throw new SynodError('UNAUTHORIZED', 'the API key is not valid');
      req.apiKey = name;
    });
  }
  if (opts.rateLimitPerSecond !== undefined) {
    const max = opts.rateLimitPerSecond;
    await app.register(rateLimit, {
      max,
      timeWindow: 1000,
      keyGenerator: (req) => (req.apiKey === undefined ? `ip:${req.ip}` : `key:${req.apiKey}`),
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      addHeaders: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true, 'retry-after': true },
      errorResponseBuilder: (_req, ctx) => new SynodError('RATE_LIMITED', `more than ${max} requests per second from this client: retry after ${ctx.after}`),
    });
  }
  if (opts.corsOrigins !== undefined) {
    // @fastify/cors answers an OPTIONS request that is no full preflight with a text body of its
    // own; refused here first, it gets the catalog's envelope as every refusal does (found by the fuzzer).
    app.addHook('onRequest', async (req) => {
      if (req.method === 'OPTIONS' && (!req.headers.origin || !req.headers['access-control-request-method'])) {
        throw new SynodError('BAD_REQUEST', 'an OPTIONS request is a CORS preflight: it needs the origin and access-control-request-method headers');
      }
    });
    const any = opts.corsOrigins.includes('*');
    await app.register(cors, {
      origin: any ? '*' : opts.corsOrigins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['content-type', 'authorization', 'x-api-key', 'x-request-id', 'x-synod-timeout-ms', 'x-synod-key'],
      exposedHeaders: ['x-synod-worker', 'x-request-id', 'retry-after'],
      maxAge: 600,
    });
  }
  if (opts.accessLog) {
    const log = opts.log.child({ component: 'access' });
    app.addHook('onResponse', async (req, reply) => {
      log.info(
        {
          reqId: req.id,
          method: req.method,
          url: req.url.length <= 256 ? req.url : `${req.url.slice(0, 256)}…`,
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 100) / 100,
          ...(req.apiKey === undefined ? {} : { apiKey: req.apiKey }),
          worker: reply.getHeader('x-synod-worker'),
        },
        'request',
      );
    });
  }
});
