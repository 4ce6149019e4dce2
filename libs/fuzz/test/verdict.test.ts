import { describe, expect, it } from 'vitest';
import { judgeHttp, judgeReply } from '../src/index.js';

const any = { kind: 'any' } as const;
const codes = (...c: string[]) => ({ kind: 'codes', codes: c }) as const;

describe('judging replies', () => {
  it('accepts results and catalogued errors', () => {
    expect(judgeReply({ result: { a: 1 } }, any)).toEqual({ ok: true, label: 'result' });
    expect(judgeReply({ error: { code: 'BAD_REQUEST', message: 'x', retryable: false } }, any)).toEqual({ ok: true, label: 'BAD_REQUEST' });
  });

  it.each([
    [null, /not an envelope/],
    [[1], /not an envelope/],
    [{ ok: true }, /neither/],
    [{ error: 'Bad Request' }, /not \{ code, message, retryable \}/],
    [{ error: { code: 'BAD_REQUEST', message: 'x' } }, /not \{ code, message, retryable \}/],
    [{ error: { code: 'FST_ERR_BAD_URL', message: 'x', retryable: false } }, /not in the catalog/],
    [{ error: { code: 'INTERNAL', message: 'boom', retryable: false } }, /INTERNAL/],
  ])('refuses %j', (reply, problem) => {
    const v = judgeReply(reply, any);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.problem).toMatch(problem);
  });

  it('holds semantic cases to their codes; a retryable error passes, a success does not', () => {
    expect(judgeReply({ error: { code: 'LEASE_NOT_FOUND', message: 'x', retryable: false } }, codes('LEASE_NOT_FOUND')).ok).toBe(true);
    expect(judgeReply({ error: { code: 'NOT_LEADER', message: 'x', retryable: true } }, codes('LEASE_NOT_FOUND')).ok).toBe(true);
    expect(judgeReply({ error: { code: 'BAD_REQUEST', message: 'x', retryable: false } }, codes('LEASE_NOT_FOUND')).ok).toBe(false);
    expect(judgeReply({ result: {} }, codes('LEASE_NOT_FOUND')).ok).toBe(false);
    expect(judgeReply({ error: { code: 'CONFLICT', message: 'x', retryable: false } }, { kind: 'ok' }).ok).toBe(false);
  });

  it('checks an HTTP error status against the catalog', () => {
    const body = (code: string) => JSON.stringify({ error: { code, message: 'm', retryable: false } });
    const seen = (status: number, contentType: string | undefined, text: string) => ({ status, contentType, text });
    expect(judgeHttp({ method: 'POST' }, seen(404, 'application/json', body('UNKNOWN_SERVICE')), any)).toEqual({ ok: true, label: 'http 404 UNKNOWN_SERVICE' });
    expect(judgeHttp({ method: 'POST' }, seen(400, 'application/json', body('NOT_FOUND')), any).ok).toBe(false);
    expect(judgeHttp({ method: 'GET' }, seen(400, 'application/json', '{"statusCode":400,"code":"FST_ERR_BAD_URL","error":"Bad Request","message":"x"}'), any).ok).toBe(false);
    expect(judgeHttp({ method: 'GET' }, seen(503, 'text/plain', 'not ready'), any).ok).toBe(false);
    expect(judgeHttp({ method: 'HEAD' }, seen(404, undefined, ''), any).ok).toBe(true);
    expect(judgeHttp({ method: 'GET' }, seen(200, 'text/html', '<html>'), any).ok).toBe(true);
    expect(judgeHttp({ method: 'POST' }, seen(200, 'application/json', '{}'), codes('PAYLOAD_TOO_LARGE')).ok).toBe(false);
  });

  it('holds HTTP answers to the rules of access: credentials, retry-after, CORS origins', () => {
    const ok = { status: 200, contentType: 'application/json', text: '{}' };
    const limited = { status: 429, contentType: 'application/json', text: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'm', retryable: true } }) };
    expect(judgeHttp({ method: 'PUT', lacks: 'the admin token' }, ok, any)).toEqual({ ok: false, problem: 'answered 200 to a request without the admin token' });
    expect(judgeHttp({ method: 'PUT', lacks: 'the admin token' }, { ...ok, status: 403, text: JSON.stringify({ error: { code: 'FORBIDDEN', message: 'm', retryable: false } }) }, any).ok).toBe(true);
    expect(judgeHttp({ method: 'GET' }, limited, any)).toEqual({ ok: false, problem: '429 without retry-after' });
    expect(judgeHttp({ method: 'GET' }, { ...limited, retryAfter: '1' }, any)).toEqual({ ok: true, label: 'http 429 RATE_LIMITED' });
    const allowedOrigins = ['https://app.example.com'];
    expect(judgeHttp({ method: 'GET', origin: 'https://app.example.com', allowedOrigins }, { ...ok, allowOrigin: 'https://app.example.com' }, any).ok).toBe(true);
    expect(judgeHttp({ method: 'GET', origin: 'https://evil.example', allowedOrigins }, { ...ok, allowOrigin: 'https://evil.example' }, any).ok).toBe(false);
    expect(judgeHttp({ method: 'GET', origin: 'https://evil.example', allowedOrigins }, { ...ok, allowOrigin: '*' }, any).ok).toBe(false);
    expect(judgeHttp({ method: 'GET', origin: 'https://evil.example', allowedOrigins: ['*'] }, { ...ok, allowOrigin: '*' }, any).ok).toBe(true);
  });
});
