import { HTTP_HEADERS } from '@synod/protocol';
import { z } from 'zod';
import { ErrorEnvelope, RouteParams, ServicesResponse, WorkersResponse } from './api-schemas.js';

type Schema = z.ZodType;

const json = (schema: Schema): unknown => z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
const content = (schema: Schema) => ({ 'application/json': { schema: json(schema) } });
const pathParams = (schema: z.ZodObject) =>
  Object.entries(schema.shape).map(([name, s]) => ({ name, in: 'path', required: true, schema: json(s as Schema) }));
const error = (description: string) => ({ description, content: content(ErrorEnvelope) });

/**
 * The OpenAPI 3.1 document of the gateway's public HTTP API, built from the same zod schemas that
 * validate the requests (zod 4's JSON Schema output is JSON Schema 2020-12, which OpenAPI 3.1 uses).
 * The admin routes live on the ops port and are documented in docs/gateway.md, not here.
 */
export function openApiDocument(opts: { hashHeader: string; apiKeys: boolean; rateLimited: boolean }): Record<string, unknown> {
  const security = opts.apiKeys ? [{ apiKey: [] }, { bearer: [] }] : [];
  const guarded = {
    ...(opts.apiKeys ? { 401: error('no API key, or one that is not valid') } : {}),
    ...(opts.rateLimited
      ? {
          429: {
            description: 'this client is over its rate; see retry-after',
            headers: { 'retry-after': { schema: { type: 'integer' }, description: 'seconds to wait before retrying' } },
            content: content(ErrorEnvelope),
          },
        }
      : {}),
  };
  const unavailable = {
    description: 'no live worker, no capacity (concurrency limits, full queue) or the gateway is shedding load; see retry-after',
    headers: { 'retry-after': { schema: { type: 'integer' }, description: 'seconds to wait before retrying' } },
    content: content(ErrorEnvelope),
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Synod balancer-gateway',
      version: '1',
      description:
        'Routes JSON requests to live workers over NATS. Every error is `{ error: { code, message, retryable, details? } }` with a stable code from the catalog.',
    },
    ...(opts.apiKeys
      ? {
          components: {
            securitySchemes: {
              apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'a key listed (by digest) in API_KEYS_FILE' },
              bearer: { type: 'http', scheme: 'bearer', description: 'the same key as a bearer token' },
            },
          },
        }
      : {}),
    paths: {
      '/v1/services/{service}/{endpoint}': {
        post: {
          summary: 'Send one request to a worker of the service',
          description:
            'The body is forwarded as is to one live worker chosen by the service\'s strategy. The answer is the worker\'s result; `x-synod-worker` names the worker.',
          parameters: [
            ...pathParams(RouteParams),
            {
              name: HTTP_HEADERS.timeoutMs,
              in: 'header',
              required: false,
              schema: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
              description: 'a shorter deadline than the gateway\'s, in ms: decimal digits only (no sign, point, exponent or leading zero); anything else is 400',
            },
            { name: opts.hashHeader, in: 'header', required: false, schema: { type: 'string' }, description: 'the routing key under consistent-hash' },
            { name: HTTP_HEADERS.requestId, in: 'header', required: false, schema: { type: 'string' } },
          ],
          security,
          requestBody: { required: true, content: { 'application/json': { schema: {} } } },
          responses: {
            200: {
              description: 'the worker\'s result',
              headers: { [HTTP_HEADERS.worker]: { schema: { type: 'string' }, description: 'the worker that answered' } },
              content: { 'application/json': { schema: {} } },
            },
            400: error('malformed request or body rejected by the endpoint\'s schema'),
            404: error('unknown service or endpoint'),
            413: error('body too large'),
            415: error('body is not JSON'),
            ...guarded,
            500: error('the worker failed'),
            502: error('the worker answered something that is not a Synod reply'),
            503: unavailable,
            504: error('no answer within the deadline'),
          },
        },
      },
      '/v1/workers': {
        get: {
          summary: 'Live workers with their weight, load, latency estimate and ejection state',
          security,
          responses: { 200: { description: 'the registry', content: content(WorkersResponse) }, ...guarded },
        },
      },
      '/v1/services': {
        get: { summary: 'Known services with their strategy, and the pending queue', security, responses: { 200: { description: 'services', content: content(ServicesResponse) }, ...guarded } },
      },
      '/docs/json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } } },
    },
  };
}

/** A small self-contained HTML page listing the API from the document (no external assets). */
export function docsPage(doc: Record<string, unknown>): string {
  const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const paths = doc.paths as Record<string, Record<string, { summary?: string; description?: string; responses?: Record<string, { description?: string }> }>>;
  const rows = Object.entries(paths)
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => {
        const responses = Object.entries(op.responses ?? {})
          .map(([code, r]) => `<li><code>${esc(code)}</code> ${esc(r.description ?? '')}</li>`)
          .join('');
        return `<section><h2><code>${esc(method.toUpperCase())} ${esc(path)}</code></h2><p>${esc(op.summary ?? '')}</p>${op.description ? `<p>${esc(op.description)}</p>` : ''}<ul>${responses}</ul></section>`;
      }),
    )
    .join('\n');
  const info = doc.info as { title: string; description: string };
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(info.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}section{border-top:1px solid #ddd}code{background:#f4f4f4;padding:0 .2em}</style></head>
<body><h1>${esc(info.title)}</h1><p>${esc(info.description)}</p><p>Machine-readable: <a href="/docs/json">/docs/json</a> (OpenAPI 3.1, schemas from the zod definitions).</p>
${rows}</body></html>`;
}
