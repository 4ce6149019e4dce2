import { describe, expect, it } from 'vitest';
import { openApiDocument, docsPage } from '../src/openapi.js';
import { isListedIdempotent } from '@synod/routing';
import { BodyFieldPath, IdempotentEndpoints, keyFromBody, StrategyOverrides } from '../src/settings.js';

describe('LB_STRATEGY_OVERRIDES', () => {
  it('parses service=strategy pairs', () => {
    expect(StrategyOverrides.parse('a=p2c-ewma, b=least-outstanding,')).toEqual(
      new Map([
        ['a', 'p2c-ewma'],
        ['b', 'least-outstanding'],
      ]),
    );
    expect(StrategyOverrides.parse(undefined)).toEqual(new Map());
  });

  it('refuses unknown strategies and malformed pairs', () => {
    for (const bad of ['a=fastest', 'a', 'a=b=c', 'bad name=random']) expect(StrategyOverrides.safeParse(bad).success).toBe(false);
  });
});

describe('IDEMPOTENT_ENDPOINTS', () => {
  it('parses service/endpoint pairs with * for every endpoint', () => {
    const list = IdempotentEndpoints.parse('sample/echo,billing/*');
    expect(isListedIdempotent(list, 'sample', 'echo')).toBe(true);
    expect(isListedIdempotent(list, 'sample', 'hash')).toBe(false);
    expect(isListedIdempotent(list, 'billing', 'anything')).toBe(true);
    expect(IdempotentEndpoints.safeParse('sample').success).toBe(false);
    expect(IdempotentEndpoints.safeParse('sample/_ping').success).toBe(false);
  });
});

describe('hash key from the body', () => {
  it('follows a dotted path to a string or number', () => {
    const path = BodyFieldPath.parse('user.id')!;
    expect(keyFromBody({ user: { id: 'u1' } }, path)).toBe('u1');
    expect(keyFromBody({ user: { id: 42 } }, path)).toBe('42');
    expect(keyFromBody({ user: { id: { x: 1 } } }, path)).toBeUndefined();
    expect(keyFromBody({ user: null }, path)).toBeUndefined();
    expect(keyFromBody([], path)).toBeUndefined();
    expect(keyFromBody({ ['__proto__']: { id: 'x' } }, ['constructor'])).toBeUndefined();
    expect(BodyFieldPath.safeParse('a..b').success).toBe(false);
  });
});

describe('OpenAPI document', () => {
  it('documents every route with schemas from zod', () => {
    const doc = openApiDocument({ hashHeader: 'x-synod-key', apiKeys: false, rateLimited: false }) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    // The admin routes live on the ops port, not in the public document.
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/docs/json',
      '/v1/services',
      '/v1/services/{service}/{endpoint}',
      '/v1/workers',
    ]);
    const text = JSON.stringify(doc);
    expect(text).toContain('"ejectedUntil"');
    expect(text).toContain('^[1-9][0-9]{0,8}$');
    expect(docsPage(doc)).toContain('POST /v1/services/{service}/{endpoint}');
  });
});
