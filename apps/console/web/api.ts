// The console API from the browser: JSON over fetch with the session cookie, the CSRF token on
// every change, errors as the catalog's envelope turned into ApiError.

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ApiError('BAD_GATEWAY', `not JSON from ${path}`, res.status);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(e?.code ?? 'INTERNAL', e?.message ?? `${res.status} from ${path}`, res.status);
  }
  return json as T;
}

/** A Server-Sent Events stream: `on(event, data)` per message; returns a close function. */
export function live(path: string, on: (event: string, data: unknown) => void, onError?: () => void): () => void {
  const source = new EventSource(path, { withCredentials: true });
  // The EventSource's own 'error' (the connection failed or was refused) carries no data: onError's business.
  const handler = (e: MessageEvent<string>) => typeof e.data === 'string' && on(e.type, JSON.parse(e.data) as unknown);
  for (const event of ['cluster', 'leader', 'event', 'error', 'services']) source.addEventListener(event, handler as EventListener);
  if (onError) source.onerror = onError;
  return () => source.close();
}

export const qs = (params: Record<string, string | number | undefined>): string =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
