import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LockRequest } from '@synod/protocol';
import { appliedVersion, unwrap, wrap } from '../src/objects.js';
import { LockWireError } from '../src/wire-error.js';

const bad = (v: unknown): string => {
  const r = LockRequest.safeParse(v);
  expect(r.success).toBe(false);
  return r.success ? '' : z.prettifyError(r.error);
};

describe('lock request schemas', () => {
  it('accepts the documented requests and fills defaults', () => {
    expect(LockRequest.parse({ type: 'acquire', name: 'orders', lease: 7, timeoutMs: 0 })).toEqual({
      type: 'acquire',
      name: 'orders',
      lease: 7,
      timeoutMs: 0,
      mode: 'mutex',
      lockDelayMs: 0,
      keepWaiting: false,
    });
    expect(LockRequest.parse({ type: 'cas', key: 'a/b', expectedVersion: 0, value: '' })).toMatchObject({ type: 'cas' });
    expect(LockRequest.parse({ type: 'acquire', name: 'p', lease: 1, timeoutMs: 10, mode: 'semaphore', permits: 3 })).toMatchObject({ permits: 3 });
  });

  it('rejects garbage, wrong types and oversized fields with readable messages', () => {
    expect(bad(null)).toMatch(/type must be one of/);
    expect(bad('acquire')).toMatch(/type must be one of/);
    expect(bad({ type: 'grab' })).toMatch(/type must be one of/);
    expect(bad({ type: 'acquire', name: 'a/b', lease: 1, timeoutMs: 1 })).toMatch(/name must be 1-200 letters/);
    expect(bad({ type: 'acquire', name: 'a', lease: '1', timeoutMs: 1 })).toMatch(/lease must be an integer/);
    expect(bad({ type: 'acquire', name: 'a', lease: 1, timeoutMs: -1 })).toMatch(/timeoutMs must not be negative/);
    expect(bad({ type: 'acquire', name: 'a', lease: 1, timeoutMs: 1e9 })).toMatch(/timeoutMs must be at most/);
    expect(bad({ type: 'acquire', name: 'a', lease: 1, timeoutMs: 1, mode: 'exclusive' })).toMatch(/mode must be one of/);
    expect(bad({ type: 'acquire', name: 'a', lease: 1, timeoutMs: 1, mode: 'semaphore' })).toMatch(/permits is required/);
    expect(bad({ type: 'acquire', name: 'a', lease: 1, timeoutMs: 1, permits: 2 })).toMatch(/permits is only for a semaphore/);
    expect(bad({ type: 'acquire', name: 'x'.repeat(201), lease: 1, timeoutMs: 1 })).toMatch(/name must be/);
    expect(bad({ type: 'release', name: 'a', lease: 1, token: 1.5 })).toMatch(/token must be an integer/);
    expect(bad({ type: 'cas', key: 'k', expectedVersion: 0, value: 'x'.repeat(256 * 1024 + 1) })).toMatch(/value must be at most/);
    expect(bad({ type: 'cas', key: 'k', expectedVersion: 0, value: 1 })).toMatch(/value must be a string/);
    expect(bad({ type: 'read', key: '' })).toMatch(/key must not be empty/);
    expect(bad({ type: 'session', ttlMs: 5 })).toMatch(/ttlMs must be at least/);
    expect(bad({ type: 'acquire', name: 'a', lease: 1, timeoutMs: 1, keepWaiting: 'yes', fromRevision: -2 })).toMatch(/keepWaiting must be a boolean[\s\S]*fromRevision must not be negative/);
  });
});

describe('optimistic values', () => {
  it('keeps the last op ids so a re-sent cas is recognised', () => {
    let raw = wrap('1', undefined, 'op-aaaaaaaa', 1);
    for (let i = 0; i < 20; i++) raw = wrap(String(i + 2), unwrap(raw), `op-${String(i).padStart(8, '0')}`, i + 2);
    const w = unwrap(raw);
    expect(w.v).toBe('21');
    expect(w.ops).toHaveLength(16);
    expect(appliedVersion(w, 'op-00000019')).toBe(21);
    expect(appliedVersion(w, 'op-aaaaaaaa')).toBeUndefined();
    expect(unwrap('plain text')).toEqual({ v: 'plain text', ops: [] });
    expect(unwrap('{"v":3}')).toEqual({ v: '{"v":3}', ops: [] });
  });
});

describe('wire errors', () => {
  it('carry codes the catalog does not hold yet', () => {
    const e = new LockWireError('NOT_HOLDER', 'no', { retryable: false, details: { a: 1 } });
    expect(e.toEnvelope()).toEqual({ error: { code: 'NOT_HOLDER', message: 'no', retryable: false, details: { a: 1 } } });
  });
});
