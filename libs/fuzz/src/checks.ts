import { randomBytes } from 'node:crypto';
import { SynodError, subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { StoreClient } from '@synod/store-client';
import { LockClient } from '@synod/locks';
import type { FuzzContext } from './context.js';
import type { Setup } from './setup.js';
import type { FuzzStack } from './stack.js';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

/** After the run: every process alive and answering, and every acknowledged write readable at its revision. */
export async function afterChecks(stack: FuzzStack, ctx: FuzzContext, acked: Setup['acked'], timeoutMs: number, answerMarginMs: number): Promise<Check[]> {
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<string | undefined>) => {
    try {
      const problem = await fn();
      checks.push(problem === undefined ? { name, ok: true } : { name, ok: false, detail: problem });
    } catch (err) {
      checks.push({ name, ok: false, detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  };
  const nc = stack.nc;
  await check('every process is running (its pid alive)', async () => {
    const dead = stack.dead();
    return dead.length === 0 ? undefined : dead.map((d) => `${d.name} (pid ${d.pid}) exited: ${d.exit}`).join('; ');
  });
  await check('every process answers GET /healthz on its ops port', async () => {
    const bad: string[] = [];
    for (const p of stack.processes) {
      for (const h of p.http.filter((x) => x.server === 'ops')) {
        const res = await fetch(`http://127.0.0.1:${h.port}/healthz`, { signal: AbortSignal.timeout(timeoutMs + answerMarginMs) }).catch((err: unknown) => err as Error);
        if (res instanceof Error || res.status !== 200) bad.push(`${p.name}: ${res instanceof Error ? res.message : res.status}`);
      }
    }
    return bad.length === 0 ? undefined : bad.join('; ');
  });
  await check('every replica answers its status', async () => {
    const bad: string[] = [];
    for (const id of stack.replicaIds) await stack.status(id, timeoutMs + answerMarginMs).catch((err: unknown) => bad.push(`${id}: ${(err as Error).message}`));
    return bad.length === 0 ? undefined : bad.join('; ');
  });
  const store = new StoreClient({ nc, namespace: stack.namespace, clientId: `fuzz-after-${randomBytes(4).toString('hex')}`, timeoutMs: 10_000 });
  try {
    await check('kv put then get', async () => {
      const value = `after-${randomBytes(4).toString('hex')}`;
      await store.put('fuzz-after/k', value);
      const kv = await store.get('fuzz-after/k');
      return kv?.value === value ? undefined : `read back ${JSON.stringify(kv?.value)}, wrote ${value}`;
    });
    await check(`the ${acked.length} writes acknowledged before the run are readable at their revisions`, async () => {
      const bad: string[] = [];
      for (const w of acked) {
        const r = await store.range({ key: w.key, revision: w.revision });
        const kv = r.kvs[0];
        if (kv?.value !== w.value || kv.modRevision !== w.revision) bad.push(`${w.key}@${w.revision}: ${kv ? `${JSON.stringify(kv.value)} (modRevision ${kv.modRevision})` : 'missing'}`);
      }
      return bad.length === 0 ? undefined : bad.join('; ');
    });
  } finally {
    await store.close();
  }
  const locks = new LockClient({ nc, namespace: stack.namespace, timeoutMs: 10_000 });
  try {
    await check('lock acquire then release', async () => {
      const lock = await locks.acquire(`fuzz-after-${randomBytes(3).toString('hex')}`, { timeoutMs: 5000, ttlMs: 5000 });
      if (!(lock.token > 0)) return `token ${lock.token}`;
      await lock.release();
      return undefined;
    });
  } finally {
    await locks.close();
  }
  await check('the gateway routes an echo to a worker', async () => {
    const service = ctx.workers[0]?.service ?? 'sample';
    // The rate limit may still count the last inputs (a 1 s window): a 429 is waited out as it says.
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${stack.gatewayUrl}/v1/services/${service}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': ctx.apiKey },
        body: JSON.stringify({ message: 'after the fuzz' }),
        signal: AbortSignal.timeout(timeoutMs + answerMarginMs),
      });
      const body = (await res.json()) as { message?: string };
      if (res.status === 429 && attempt < 3) {
        await new Promise((r) => setTimeout(r, 1000 * Math.min(5, Number(res.headers.get('retry-after') ?? 1))));
        continue;
      }
      return res.status === 200 && body.message === 'after the fuzz' ? undefined : `${res.status} ${JSON.stringify(body)}`;
    }
  });
  await check('every worker answers its ping', async () => {
    const bad: string[] = [];
    for (const w of ctx.workers) {
      await busRequest(nc, subjects.workerPing(ctx.namespace, w.service, w.id), {}, { timeoutMs: timeoutMs + answerMarginMs, requestId: `fuzz-after-ping-${w.id}` }).catch((err: unknown) =>
        bad.push(`${w.id}: ${err instanceof SynodError ? err.code : (err as Error).message}`),
      );
    }
    return bad.length === 0 ? undefined : bad.join('; ');
  });
  return checks;
}
