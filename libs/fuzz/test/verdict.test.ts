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
    expect(judgeHttp('POST', 404, 'application/json', body('UNKNOWN_SERVICE'), any)).toEqual({ ok: true, label: 'http 404 UNKNOWN_SERVICE' });
    expect(judgeHttp('POST', 400, 'application/json', body('NOT_FOUND'), any).ok).toBe(false);
    expect(judgeHttp('GET', 400, 'application/json', '{"statusCode":400,"code":"FST_ERR_BAD_URL","error":"Bad Request","message":"x"}', any).ok).toBe(false);
    expect(judgeHttp('GET', 503, 'text/plain', 'not ready', any).ok).toBe(false);
    expect(judgeHttp('HEAD', 404, undefined, '', any).ok).toBe(true);
    expect(judgeHttp('GET', 200, 'text/html', '<html>', any).ok).toBe(true);
    expect(judgeHttp('POST', 200, 'application/json', '{}', codes('PAYLOAD_TOO_LARGE')).ok).toBe(false);
  });
});
