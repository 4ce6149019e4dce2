import { Option, type Command } from 'commander';
import { ErrorEnvelope, SynodError, WorkersResponse, type WorkerView } from '@synod/protocol';
import { UsageError } from '../errors.js';
import type { Helpers } from './types.js';
import { formatWorkers, groupByService, workersTable } from './workers-format.js';

export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:8080';

export function registerWorkers(program: Command, h: Helpers): void {
  program
    .command('workers')
    .description("list the gateway's workers per service: weight, in-flight, EWMA latency, ejection state")
    .addOption(new Option('--gateway <url>', "the gateway's base URL").env('SYNOD_GATEWAY_URL').default(DEFAULT_GATEWAY_URL))
    .action(
      h.run(async (ctx, _args, o: { gateway: string }) => {
        const base = gatewayBase(o.gateway);
        const services = groupByService(await fetchWorkers(base, ctx.timeoutMs));
        const now = Date.now();
        ctx.print({ gateway: base, services }, formatWorkers(services, now), [workersTable(services, now)]);
      }),
    );
}

/** The gateway's base URL without a trailing slash; anything but http(s) is a usage error. */
export function gatewayBase(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UsageError(`--gateway ${JSON.stringify(raw)} is not a URL (expected http://host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--gateway ${JSON.stringify(raw)}: expected an http:// or https:// URL`);
  return url.href.replace(/\/+$/, '');
}

/** `GET <gateway>/v1/workers`, checked against the protocol's schema. */
export async function fetchWorkers(base: string, timeoutMs: number): Promise<WorkerView[]> {
  const url = `${base}/v1/workers`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError') throw new SynodError('TIMEOUT', `no answer from the gateway at ${base} within ${timeoutMs} ms`, { cause: err });
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw new SynodError('UNAVAILABLE', `cannot reach the gateway at ${base}: ${cause}`, { cause: err });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SynodError('BAD_GATEWAY', `GET ${url} answered ${res.status} with a body that is not JSON`);
  }
  if (!res.ok) {
    const envelope = ErrorEnvelope.safeParse(body);
    if (envelope.success) throw SynodError.fromBody(envelope.data.error);
    throw new SynodError('BAD_GATEWAY', `GET ${url} answered ${res.status}`);
  }
  const parsed = WorkersResponse.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SynodError('BAD_GATEWAY', `GET ${url} did not answer a worker list (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`);
  }
  return parsed.data.workers;
}
