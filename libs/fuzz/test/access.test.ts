import { describe, expect, it } from 'vitest';
import { carries, credentialOf } from '../src/access.js';
import { routePath } from '../src/http.js';
import { context } from './fixtures.js';

describe('what each route needs', () => {
  it('admin routes need the admin token, the API its key on /v1/, the rest nothing', () => {
    expect(credentialOf({ server: 'ops', url: '/v1/admin/workers/:id/weight' })).toBe('the admin token');
    expect(credentialOf({ server: 'api', url: '/v1/services/:service/:endpoint' })).toBe('an API key');
    expect(credentialOf({ server: 'api', url: '/docs' })).toBeUndefined();
    expect(credentialOf({ server: 'api', url: '*' })).toBeUndefined();
    expect(credentialOf({ server: 'ops', url: '/healthz' })).toBeUndefined();
  });

  it('reads the credential from the headers as the gateway does (x-api-key first, else a bearer token)', () => {
    const ctx = context();
    expect(carries('the admin token', { authorization: 'Bearer token' }, ctx)).toBe(true);
    expect(carries('the admin token', { authorization: 'Bearer key' }, ctx)).toBe(false);
    expect(carries('an API key', { 'x-api-key': 'key' }, ctx)).toBe(true);
    expect(carries('an API key', { authorization: 'Bearer key' }, ctx)).toBe(true);
    expect(carries('an API key', { 'x-api-key': 'other', authorization: 'Bearer key' }, ctx)).toBe(false);
    expect(carries('an API key', {}, ctx)).toBe(false);
  });
});

describe('request paths', () => {
  const service = { url: '/v1/services/:service/:endpoint', params: [{ name: 'service', kind: 'service' as const }, { name: 'endpoint', kind: 'endpoint' as const }] };

  it('fills parameters percent-encoded, or raw when hostile on purpose', () => {
    expect(routePath(service, ['a b', 'é'], [false, false], undefined)).toBe('/v1/services/a%20b/%C3%A9');
    expect(routePath(service, ['%', 'x'], [true, false], undefined)).toBe('/v1/services/%/x');
  });

  it('fills a wildcard with a path, segment by segment', () => {
    expect(routePath({ url: '*', params: [{ name: '*', kind: 'path' }] }, ['v1/services/a b/echo'], [false], undefined)).toBe('/v1/services/a%20b/echo');
  });

  it('respells one letter or digit of the fixed part, never a parameter', () => {
    const spelled = Array.from({ length: 20 }, (_, n) => routePath(service, ['sample', 'echo'], [false, false], n));
    expect(spelled).toContain('/%761/services/sample/echo');
    expect(spelled).toContain('/v1/%73ervices/sample/echo');
    for (const p of spelled) {
      expect(decodeURIComponent(p)).toBe('/v1/services/sample/echo');
      expect(p.endsWith('/sample/echo')).toBe(true);
    }
  });
});
