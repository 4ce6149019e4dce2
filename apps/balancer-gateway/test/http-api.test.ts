import { describe, expect, it } from 'vitest';
import { ErrorEnvelope } from '@synod/protocol';
import { deriveRouteTargets } from '@synod/fuzz';
import { createRootLogger, httpServerInfo } from '@synod/service-kit';
import type { EdgeOptions } from '../src/edge.js';
import { buildApi } from '../src/http-api.js';
import type { WorkerRegistry } from '../src/registry.js';
import type { Router } from '../src/router.js';

/** The API without a bus: these requests are refused before any handler runs. */
function api(edge: Omit<EdgeOptions, 'log'> = { accessLog: false }) {
  return buildApi({ router: {} as Router, registry: {} as WorkerRegistry, log: createRootLogger({ service: 'test', instance: 'test', level: 'silent' }), maxBodyBytes: 1024, requestTimeoutMs: 1000, edge });
}

describe('the gateway API answers what fastify refuses before routing with the catalog envelope', () => {
  // Found by the fuzzer (libs/fuzz): an invalid percent-encoding in the path answered fastify's own
  // `{ statusCode, code: 'FST_ERR_BAD_URL', ... }` body.
  it.each(['/v1/services/sample/%', '/v1/services/%E0%A4%A/echo', '/v1/admin/workers/%/weight', '/%ZZ'])('%s', async (url) => {
    const app = api();
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(res.statusCode).toBe(400);
    const body = ErrorEnvelope.parse(res.json());
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', retryable: false });
    expect(res.headers['x-request-id']).toBeTruthy();
    await app.close();
  });
});

describe('every route of the gateway API is fuzzed (npm run fuzz)', () => {
  it('the fuzzer derives a target for each route, with every edge feature on', async () => {
    const app = api({ accessLog: true, apiKeys: new Map([['0'.repeat(64), 'k']]), rateLimitPerSecond: 100, corsOrigins: ['https://app.example.com'] });
    await app.ready();
    const info = httpServerInfo('api', 0, app);
    expect(info.routes).toEqual(expect.arrayContaining(['POST /v1/services/:service/:endpoint', 'GET /v1/workers', 'GET /v1/services', 'OPTIONS *']));
    const d = deriveRouteTargets([info]);
    expect(d.missing).toEqual([]);
    expect(d.targets.map((t) => `${t.method} ${t.url}`)).toEqual([...info.routes, 'ANY /fuzz-no-route/:service/:endpoint']);
    await app.close();
  });
});
