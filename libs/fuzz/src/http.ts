import { request } from 'undici';
import type { RouteTarget } from './targets.js';
import type { HttpSeen } from './verdict.js';

/**
 * A path segment percent-encoded byte by byte, lone surrogates included (encodeURIComponent refuses
 * them): each becomes its three-byte WTF-8 form, which no valid UTF-8 decoder accepts.
 */
export function encodeSegment(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const isHigh = c >= 0xd800 && c <= 0xdbff;
    const isLow = c >= 0xdc00 && c <= 0xdfff;
    if (isHigh && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += encodeURIComponent(s.slice(i, i + 2));
        i++;
        continue;
      }
    }
    if (isHigh || isLow) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
      continue;
    }
    out += encodeURIComponent(s[i]!);
  }
  return out;
}

/**
 * The request path: parameters filled (percent-encoded, a wildcard's path segment by segment,
 * unless `raw`: a hostile segment sent as it is), and with `spelling` one letter or digit of the
 * fixed part percent-escaped, which routers decode: the same route, spelled otherwise.
 */
export function routePath(t: Pick<RouteTarget, 'url' | 'params'>, values: string[], raw: boolean[], spelling: number | undefined): string {
  let i = 0;
  const fixed: [segment: number, char: number][] = [];
  const segments = t.url.split('/').map((segment, s) => {
    if (segment.startsWith(':') || segment === '*') {
      const kind = t.params[i]!.kind;
      const v = values[i]!;
      if (raw[i++]) return v;
      return kind === 'path' ? v.split('/').map(encodeSegment).join('/') : encodeSegment(v);
    }
    for (let c = 0; c < segment.length; c++) if (/[A-Za-z0-9]/.test(segment[c]!)) fixed.push([s, c]);
    return segment;
  });
  if (spelling !== undefined && fixed.length > 0) {
    const [s, c] = fixed[spelling % fixed.length]!;
    const segment = segments[s]!;
    segments[s] = `${segment.slice(0, c)}%${segment.charCodeAt(c).toString(16).toUpperCase()}${segment.slice(c + 1)}`;
  }
  const path = segments.join('/');
  return path.startsWith('/') ? path : `/${path}`;
}

export type HttpAnswer = ({ kind: 'answer' } & HttpSeen) | { kind: 'timeout' } | { kind: 'closed'; message: string };

/** One HTTP request with a body of raw bytes (GET and HEAD included: servers must cope). */
export async function httpSend(
  base: string,
  path: string,
  o: { method: string; headers: Record<string, string>; body: Uint8Array | undefined; waitMs: number },
): Promise<HttpAnswer> {
  try {
    const res = await request(`${base}${path}`, {
      method: o.method as 'GET',
      headers: o.headers,
      ...(o.body === undefined ? {} : { body: o.body }),
      signal: AbortSignal.timeout(o.waitMs),
    });
    const text = await res.body.text();
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return {
      kind: 'answer',
      status: res.statusCode,
      contentType: header('content-type'),
      text,
      retryAfter: header('retry-after'),
      allowOrigin: header('access-control-allow-origin'),
    };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED') return { kind: 'timeout' };
    return { kind: 'closed', message: `${e.code ?? e.name}: ${e.message}` };
  }
}
