import { request } from 'undici';

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

export type HttpAnswer = { kind: 'answer'; status: number; contentType: string | undefined; text: string } | { kind: 'timeout' } | { kind: 'closed'; message: string };

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
    const ct = res.headers['content-type'];
    return { kind: 'answer', status: res.statusCode, contentType: Array.isArray(ct) ? ct[0] : ct, text };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED') return { kind: 'timeout' };
    return { kind: 'closed', message: `${e.code ?? e.name}: ${e.message}` };
  }
}
