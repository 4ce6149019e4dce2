import { WorkersResponse, type WorkerView } from '@synod/protocol';
import { AppProcess, appScript, startNats, uniqueNamespace, type LogLine, type NatsFixture } from '@synod/testkit';

export { metricSum } from '@synod/testkit';

/** A NATS server plus the app processes one test file starts on its own namespace. */
export class Stack {
  readonly namespace = uniqueNamespace('gw');
  private readonly apps: AppProcess[] = [];

  private constructor(readonly nats: NatsFixture) {}

  static async start(): Promise<Stack> {
    return new Stack(await startNats());
  }

  async worker(env: Record<string, string> = {}): Promise<{ app: AppProcess; ready: LogLine; id: string }> {
    const started = await AppProcess.start({
      script: appScript('sample-worker'),
      name: `worker ${env.WORKER_ID ?? ''}`,
      env: { NATS_URL: this.nats.url, SYNOD_NAMESPACE: this.namespace, LOG_LEVEL: 'info', ...env },
    });
    this.apps.push(started.app);
    return { ...started, id: String(started.ready.id) };
  }

  /** A gateway with its public API on `url` and its ops port (health, metrics, admin) on `opsUrl`. */
  async gateway(env: Record<string, string> = {}): Promise<Gateway> {
    const started = await AppProcess.start({
      script: appScript('balancer-gateway'),
      name: 'gateway',
      env: { NATS_URL: this.nats.url, SYNOD_NAMESPACE: this.namespace, PORT: '0', HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
    });
    this.apps.push(started.app);
    return { ...started, url: `http://127.0.0.1:${String(started.ready.port)}`, opsUrl: `http://127.0.0.1:${String(started.ready.httpPort)}` };
  }

  async stop(): Promise<void> {
    await Promise.all(this.apps.map((a) => a.stop(5000)));
    await this.nats.stop();
  }
}

export interface Gateway {
  app: AppProcess;
  ready: LogLine;
  url: string;
  opsUrl: string;
}

/** The admin token process tests give gateways that need their admin routes. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Reply {
  status: number;
  worker: string | null;
  body: unknown;
  headers: Headers;
}

export async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Keep the text: the assertion shows what came back.
  }
  return { status: res.status, worker: res.headers.get('x-synod-worker'), body: parsed, headers: res.headers };
}

export async function workers(base: string): Promise<WorkerView[]> {
  const res = await fetch(`${base}/v1/workers`);
  return WorkersResponse.parse(await res.json()).workers;
}

/** Polls `check` every `intervalMs` until it holds or `timeoutMs` passes; returns when it held (ms). */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 20): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until the gateway lists exactly these worker ids. */
export async function waitForWorkers(base: string, ids: string[], timeoutMs = 10_000): Promise<void> {
  const want = [...ids].sort().join(',');
  await waitUntil(async () => (await workers(base)).map((w) => w.id).sort().join(',') === want, timeoutMs);
}

/** Waits until the gateway lists exactly these worker ids for `service` (other services ignored). */
export async function waitForService(base: string, service: string, ids: string[], timeoutMs = 10_000): Promise<void> {
  const want = [...ids].sort().join(',');
  await waitUntil(
    async () =>
      (await workers(base))
        .filter((w) => w.service === service)
        .map((w) => w.id)
        .sort()
        .join(',') === want,
    timeoutMs,
  );
}

/** The gateway's Prometheus text from its ops port (start it with HTTP_PORT: '0'). */
export async function metrics(gw: { ready: LogLine }): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${String(gw.ready.httpPort)}/metrics`);
  return res.text();
}


/** Sends `total` requests from `concurrency` closed-loop clients; `make(i)` builds request i. */
export async function closedLoop<T>(concurrency: number, total: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const replies: T[] = new Array<T>(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        replies[i] = await send(i);
      }
    }),
  );
  return replies;
}

export function countBy<T>(items: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}

export async function put(
  base: string,
  path: string,
  body: unknown,
  method: 'PUT' | 'DELETE' = 'PUT',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(method === 'PUT' ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(method === 'PUT' ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

/** An admin call on the gateway's ops port with {@link TEST_ADMIN_TOKEN}. */
export function admin(gw: Gateway, path: string, body: unknown, method: 'PUT' | 'DELETE' = 'PUT'): Promise<{ status: number; body: unknown }> {
  return put(gw.opsUrl, path, body, method, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
}
