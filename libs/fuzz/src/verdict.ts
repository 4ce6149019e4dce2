import { ErrorBody, httpStatusOf, isErrorCode } from '@synod/protocol';
import type { Expect } from './apis.js';

/** How one answer was judged: `ok` with a label to count (`result`, an error code...), or a problem. */
export type Verdict = { ok: true; label: string } | { ok: false; problem: string };

const decoder = new TextDecoder();

/**
 * Judges a reply against the envelope contract: `{ result }` or `{ error: { code, message,
 * retryable } }` with a catalogued code; INTERNAL is a failure (an unexpected exception in a
 * handler); a semantic case's reply must be one of its codes (or retryable); `ok` cases must succeed
 * (or fail retryably).
 */
export function judgeReply(json: unknown, expect: Expect): Verdict {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, problem: `reply is not an envelope: ${preview(json)}` };
  const o = json as Record<string, unknown>;
  if ('error' in o) {
    const body = ErrorBody.safeParse(o.error);
    if (!body.success) return { ok: false, problem: `error reply is not { code, message, retryable }: ${preview(o.error)}` };
    const { code, retryable, message } = body.data;
    if (!isErrorCode(code)) return { ok: false, problem: `error code ${code} is not in the catalog (${message})` };
    if (code === 'INTERNAL') return { ok: false, problem: `INTERNAL error (an unexpected failure in a handler): ${message}` };
    if (expect.kind === 'codes' && !retryable && !expect.codes.includes(code)) return { ok: false, problem: `expected ${expect.codes.join(' or ')}, got ${code}: ${message}` };
    if ((expect.kind === 'ok' || expect.kind === 'watch-delivers') && !retryable) return { ok: false, problem: `expected success, got ${code}: ${message}` };
    return { ok: true, label: code };
  }
  if ('result' in o) {
    if (expect.kind === 'codes') return { ok: false, problem: `a request that must be refused (${expect.codes.join(' or ')}) was accepted: ${preview(o.result)}` };
    return { ok: true, label: 'result' };
  }
  return { ok: false, problem: `reply is neither { result } nor { error }: ${preview(json)}` };
}

/** Judges the bytes of a bus reply (which must be JSON). */
export function judgeBusReply(data: Uint8Array, expect: Expect): Verdict {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, problem: `reply is not JSON: ${preview(decoder.decode(data.subarray(0, 200)))}` };
  }
  return judgeReply(json, expect);
}

/** An HTTP answer, as far as the verdict looks at it. */
export interface HttpSeen {
  status: number;
  contentType: string | undefined;
  text: string;
  retryAfter?: string | undefined;
  /** The `access-control-allow-origin` header. */
  allowOrigin?: string | undefined;
}

/** The request an answer is judged against: its method and what it carried. */
export interface HttpAsked {
  method: string;
  /** The credential the route needs and the request did not carry (`the admin token`, `an API key`). */
  lacks?: string | undefined;
  /** The Origin header sent. */
  origin?: string | undefined;
  /** The origins the server's CORS allows. */
  allowedOrigins?: readonly string[];
}

/**
 * Judges an HTTP answer: an error status must carry the envelope with a catalogued code whose HTTP
 * status is the one answered (HEAD answers carry no body); a 500 is a failure. And the rules of
 * access: a route answers a request without the credential it needs only with an error, a 429
 * says when to retry (`retry-after`), and CORS allows only the configured origins.
 */
export function judgeHttp(asked: HttpAsked, seen: HttpSeen, expect: Expect): Verdict {
  const { method } = asked;
  const { status, contentType, text } = seen;
  if (asked.lacks !== undefined && status < 400) return { ok: false, problem: `answered ${status} to a request without ${asked.lacks}` };
  if (status === 429 && seen.retryAfter === undefined) return { ok: false, problem: '429 without retry-after' };
  if (seen.allowOrigin !== undefined) {
    const allowed = asked.allowedOrigins ?? [];
    const fine = seen.allowOrigin === '*' ? allowed.includes('*') : seen.allowOrigin === asked.origin && allowed.includes(seen.allowOrigin);
    if (!fine) return { ok: false, problem: `access-control-allow-origin ${JSON.stringify(seen.allowOrigin)} answered to origin ${JSON.stringify(asked.origin ?? null)} (allowed: ${allowed.join(', ') || 'none'})` };
  }
  if (status >= 400) {
    if (method === 'HEAD') return status >= 500 && status !== 503 && status !== 504 ? { ok: false, problem: `HEAD answered ${status}` } : { ok: true, label: `http ${status}` };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, problem: `${status} answer is not JSON (${contentType ?? 'no content-type'}): ${preview(text.slice(0, 200))}` };
    }
    const v = judgeReply(json, expect);
    if (!v.ok) return { ok: false, problem: `${status} answer: ${v.problem}` };
    const code = (json as { error: { code: string } }).error.code;
    if (httpStatusOf(code) !== status) return { ok: false, problem: `${code} answered with HTTP ${status}; the catalog says ${httpStatusOf(code)}` };
    return { ok: true, label: `http ${status} ${code}` };
  }
  if (expect.kind === 'codes') return { ok: false, problem: `a request that must be refused (${expect.codes.join(' or ')}) was answered ${status}: ${preview(text.slice(0, 200))}` };
  return { ok: true, label: `http ${status}` };
}

function preview(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return s.length > 160 ? `${s.slice(0, 160)}…` : s;
}
