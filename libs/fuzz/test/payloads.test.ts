import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { context } from './fixtures.js';
import { encodeSegment, payloadArb, renderPayload } from '../src/index.js';

const limits = { api: 1000, 'max-payload': 4000, 'http-body': 2000, 'beyond-1mib': 1024 * 1024 };
const dec = new TextDecoder();

describe('payloads', () => {
  it('render for every API, and semantic cases only where the API has some', () => {
    fc.assert(
      fc.property(payloadArb(true), fc.constantFrom('store', 'lock', 'worker', 'ping', 'registry', undefined), fc.constantFrom('echo', 'hash', 'sleep', 'nosuch'), (p, api, endpoint) => {
        const r = renderPayload(p, { api: api as never, ctx: context(), params: { endpoint }, limits });
        if (r === undefined) {
          expect(p.kind).toBe('semantic');
          return;
        }
        expect(r.bytes).toBeInstanceOf(Uint8Array);
        if (p.kind === 'oversized') expect(r.bytes.length).toBeGreaterThan(limits[p.limit]);
        if (p.kind === 'template') expect(() => JSON.parse(dec.decode(r.bytes))).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('splices literals JSON cannot carry where a field was', () => {
    const r = renderPayload({ kind: 'replaced', t: 0, at: 0, with: { text: 'NaN' } }, { api: 'store', ctx: context(), params: {}, limits })!;
    expect(dec.decode(r.bytes)).toBe('{"type":NaN}');
  });

  it('nests deep without building the value', () => {
    const r = renderPayload({ kind: 'nested', t: 0, depth: 100_000, shape: 'array', inField: false }, { api: 'lock', ctx: context(), params: {}, limits })!;
    expect(r.bytes.length).toBe(200_000);
  });

  it('puts invalid UTF-8 inside a string of a valid request', () => {
    const r = renderPayload({ kind: 'bad-utf8', t: 0, at: 0, bytes: [0xed, 0xa0, 0x80] }, { api: 'worker', ctx: context(), params: { endpoint: 'echo' }, limits })!;
    expect([...r.bytes]).toEqual([...new TextEncoder().encode('{"message":"x'), 0xed, 0xa0, 0x80, ...new TextEncoder().encode('x"}')]);
  });

  it('gives semantic cases their expected answers', () => {
    const r = renderPayload({ kind: 'semantic', c: 0, n: 7 }, { api: 'store', ctx: context(), params: {}, limits })!;
    expect(r.what).toBe('semantic: keep-alive of a lease never granted');
    expect(r.expect).toEqual({ kind: 'codes', codes: ['LEASE_NOT_FOUND'] });
    expect(JSON.parse(dec.decode(r.bytes))).toEqual({ type: 'leaseKeepAlive', id: 2 ** 52 + 7 });
  });

  it('percent-encodes lone surrogates as WTF-8 (encodeURIComponent refuses them)', () => {
    expect(encodeSegment('a\ud800b')).toBe('a%ED%A0%80b');
    expect(encodeSegment('😀/')).toBe('%F0%9F%98%80%2F');
  });
});
