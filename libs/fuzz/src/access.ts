import type { FuzzContext } from './context.js';
import type { RouteTarget } from './targets.js';

/**
 * What a route needs before it may answer anything but an error, as docs/security.md states it for
 * a gateway with an admin token and API keys configured (the fuzzer's stack): the admin routes
 * (`/v1/admin/*`, on the ops port) the admin token as a bearer token; the API's `/v1/` routes an
 * API key (`x-api-key`, else a bearer token). Judged on the route pattern, whatever spelling of
 * its path the request used. Undefined: the route is open.
 */
export function credentialOf(t: Pick<RouteTarget, 'server' | 'url'>): 'the admin token' | 'an API key' | undefined {
  if (t.url.startsWith('/v1/admin/')) return 'the admin token';
  if (t.server === 'api' && t.url.startsWith('/v1/')) return 'an API key';
  return undefined;
}

/** Whether the request's headers carry the credential, as the gateway reads them. */
export function carries(credential: NonNullable<ReturnType<typeof credentialOf>>, headers: Record<string, string>, ctx: Pick<FuzzContext, 'adminToken' | 'apiKey'>): boolean {
  if (credential === 'the admin token') return headers.authorization === `Bearer ${ctx.adminToken}`;
  const key = headers['x-api-key'];
  return key !== undefined && key !== '' ? key === ctx.apiKey : headers.authorization === `Bearer ${ctx.apiKey}`;
}
