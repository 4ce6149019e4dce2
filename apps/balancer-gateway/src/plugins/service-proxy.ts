import type { FastifyPluginAsync } from 'fastify';
import { ENDPOINT_PATTERN, HTTP_HEADERS, RouteParams, SynodError, TOKEN_PATTERN } from '@synod/protocol';
import type { RouteRequest, RouteResult, WorkerRegistry } from '@synod/routing';
import { Counter, Histogram, type LabelBound, type Logger, type Registry, UNKNOWN_LABEL_VALUE } from '@synod/service-kit';
import { z } from 'zod';
import { keyFromBody } from '../settings.js';
import { RETRY_AFTER_SECONDS } from './errors.js';

export interface ServiceProxyOptions {
  router: { route(req: RouteRequest): Promise<RouteResult> };
  /** Tells known services and endpoints (their own metric labels) from unknown ones (`_unknown`). */
  registry: Pick<WorkerRegistry, 'isKnownEndpoint' | 'isKnownService'>;
  log: Logger;
  /** Longest a request may wait for a worker, in ms; a client may ask for less with x-synod-timeout-ms. */
  requestTimeoutMs: number;
  /** Header carrying the consistent-hash key. */
  hashHeader: string;
  /** Dotted path of a body field carrying the key, used when the header is absent. */
  hashBodyField?: readonly string[];
  /** Where the proxy's metrics go (requests and their duration); none without it. */
  metrics?: { registry: Registry; bound: LabelBound };
}

/** `x-synod-timeout-ms`: a positive number of milliseconds in plain decimal digits, nothing else. */
const TIMEOUT_HEADER = /^[1-9][0-9]{0,8}$/;
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

interface RouteLabels {
  /** Label set of the duration histogram. */
  timing: { service: string; endpoint: string };
  /** Label sets of the request counter by status. */
  byStatus: Map<number, { service: string; endpoint: string; status: number }>;
}

/**
 * `POST /v1/services/:service/:endpoint`: one JSON request to one worker, through the router. The
 * body goes to the worker as the bytes the client sent, the worker's result comes back as the bytes
 * the worker sent, and `x-synod-worker` names it. It counts what it serves
 * (`synod_gateway_requests_total{service,endpoint,status}`, `synod_gateway_request_duration_seconds`),
 * label sets built once per known service and endpoint.
 */
export const serviceProxyPlugin: FastifyPluginAsync<ServiceProxyOptions> = async (app, opts) => {
  const hashHeader = opts.hashHeader.toLowerCase();
  const count = opts.metrics ? proxyMetrics(opts.metrics.registry) : undefined;
  const unknown: RouteLabels = { timing: { service: UNKNOWN_LABEL_VALUE, endpoint: UNKNOWN_LABEL_VALUE }, byStatus: new Map() };
  const unknownEndpoint = new Map<string, RouteLabels>();
  const known = new Map<string, Map<string, RouteLabels>>();
  const labelsOf = (service: string, endpoint: string): RouteLabels => {
    const bound = opts.metrics!.bound;
    if (!opts.registry.isKnownService(service)) return unknown;
    if (!opts.registry.isKnownEndpoint(service, endpoint)) {
      let l = unknownEndpoint.get(service);
      if (!l) unknownEndpoint.set(service, (l = { timing: { service: bound.value('requests', 'service', service), endpoint: UNKNOWN_LABEL_VALUE }, byStatus: new Map() }));
      return l;
    }
    let byEndpoint = known.get(service);
    if (!byEndpoint) known.set(service, (byEndpoint = new Map()));
    let l = byEndpoint.get(endpoint);
    if (!l) {
      l = { timing: { service: bound.value('requests', 'service', service), endpoint: bound.value('requests', 'endpoint', endpoint) }, byStatus: new Map() };
      byEndpoint.set(endpoint, l);
    }
    return l;
  };
  const record = (service: string, endpoint: string, status: number, startedMs: number): void => {
    if (!count) return;
    const l = labelsOf(service, endpoint);
    let byStatus = l.byStatus.get(status);
    if (!byStatus) l.byStatus.set(status, (byStatus = { ...l.timing, status }));
    count.requests.inc(byStatus);
    count.duration.observe(l.timing, (performance.now() - startedMs) / 1000);
  };

  app.post<{ Params: { service: string; endpoint: string }; Body: Buffer | undefined }>('/v1/services/:service/:endpoint', async (req, reply) => {
    const startedMs = performance.now();
    const { service, endpoint } = req.params;
    // The patterns RouteParams checks, tested directly: zod builds its issues only for a bad path.
    if (!TOKEN_PATTERN.test(service) || !ENDPOINT_PATTERN.test(endpoint)) {
      const params = RouteParams.safeParse(req.params);
      throw new SynodError('BAD_REQUEST', `invalid route: ${params.success ? 'bad path' : z.prettifyError(params.error)}`);
    }
    if (req.body === undefined) throw new SynodError('BAD_REQUEST', 'a JSON body is required (content-type: application/json)');
    let timeoutMs = opts.requestTimeoutMs;
    const asked = req.headers[HTTP_HEADERS.timeoutMs];
    if (asked !== undefined) {
      if (typeof asked !== 'string' || !TIMEOUT_HEADER.test(asked)) {
        throw new SynodError('BAD_REQUEST', `${HTTP_HEADERS.timeoutMs} must be a positive whole number of milliseconds in decimal digits (1 to 999999999, no sign, point, exponent or leading zero)`);
      }
      timeoutMs = Math.min(Number(asked), opts.requestTimeoutMs);
    }
    const key = keyOf(req.headers[hashHeader], req.body);
    const routed = await opts.router.route({
      service,
      endpoint,
      body: req.body,
      requestId: req.id,
      timeoutMs,
      clientDeadline: timeoutMs < opts.requestTimeoutMs,
      ...(key === undefined ? {} : { key }),
    });
    void reply.header(HTTP_HEADERS.requestId, req.id);
    if (routed.worker !== undefined) void reply.header(HTTP_HEADERS.worker, routed.worker);
    const status = routed.ok ? 200 : routed.error.httpStatus;
    record(service, endpoint, status, startedMs);
    if (routed.ok) {
      const json = routed.json;
      return reply.code(200).header('content-type', JSON_CONTENT_TYPE).send(Buffer.isBuffer(json) ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength));
    }
    if (routed.error.code === 'INTERNAL') opts.log.error({ err: routed.error, reqId: req.id }, 'routing failed');
    if (status === 503) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    return reply.code(status).send(routed.error.toEnvelope());
  });

  /** The consistent-hash key: the header, else (when configured) a field of the body, parsed only then. */
  const keyOf = (header: string | string[] | undefined, body: Buffer): string | undefined => {
    if (typeof header === 'string' && header !== '') return header.slice(0, 1024);
    if (opts.hashBodyField === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
    return keyFromBody(json, opts.hashBodyField);
  };
};

/** The routed requests' counter and latency histogram. */
export function proxyMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: 'synod_gateway_requests_total',
      help: 'HTTP requests routed, by service, endpoint and status',
      labelNames: ['service', 'endpoint', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'synod_gateway_request_duration_seconds',
      help: 'Time from receiving an HTTP request to answering it',
      labelNames: ['service', 'endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
