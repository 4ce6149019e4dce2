import { describe, expect, it } from 'vitest';
import { SynodError } from '@synod/protocol';
import { ConflictError, WireError, LeaseLostError, LockClient, LockTimeoutError, NotHolderError, TooManyConflictsError, backoffMs, type LockRequestFn } from '../src/index.js';

type Body = Record<string, unknown> & { type: string };

/** A fake lock manager for the optimistic API: one versioned map, with a hook to inject failures. */
function fakeServer(hook?: (body: Body, n: number) => void) {
  const data = new Map<string, { value: string; version: number; ops: [string, number][] }>();
  let n = 0;
  const request: LockRequestFn = async (_subject, raw) => {
    const body = raw as Body;
    hook?.(body, n++);
    await new Promise((r) => setTimeout(r, Math.random() * 2));
    if (body.type === 'read') {
      const v = data.get(body.key as string);
      return { key: body.key, value: v?.value ?? null, version: v?.version ?? 0 };
    }
    if (body.type === 'cas') {
      const cur = data.get(body.key as string);
      const done = cur?.ops.find(([id]) => id === body.opId);
      if (done) return { key: body.key, version: done[1] };
      if ((cur?.version ?? 0) !== body.expectedVersion) {
        throw new WireError('CONFLICT', 'conflict', false, { currentVersion: cur?.version ?? 0 });
      }
      const version = (cur?.version ?? 0) + 1;
      data.set(body.key as string, { value: body.value as string, version, ops: [...(cur?.ops ?? []), [body.opId as string, version]] });
      return { key: body.key, version };
    }
    throw new Error(`unexpected ${body.type}`);
  };
  return { data, request };
}

describe('LockClient (fake transport)', () => {
  it('maps wire codes onto typed errors, keeping details of codes the catalog does not hold yet', async () => {
    const codes = ['NOT_HOLDER', 'CONFLICT', 'LEASE_NOT_FOUND'];
    let i = 0;
    const client = new LockClient({
      namespace: 't',
      request: async () => {
        const code = codes[i++]!;
        throw new WireError(code, code, false, { currentVersion: 4 });
      },
    });
    await expect(client.state('a')).rejects.toBeInstanceOf(NotHolderError);
    const c = await client.compareAndSet('k', 1, 'v').catch((e: unknown) => e);
    expect(c).toBeInstanceOf(ConflictError);
    expect(c).toMatchObject({ code: 'CONFLICT', currentVersion: 4 });
    await expect(client.read('k')).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('re-sends on NO_RESPONDERS, UNAVAILABLE and lost replies, with the same body', async () => {
    const seen: unknown[] = [];
    const failures = ['NO_RESPONDERS', 'UNAVAILABLE', 'TIMEOUT'];
    const client = new LockClient({
      namespace: 't',
      retry: { initialMs: 1, maxMs: 2 },
      request: async (_s, body) => {
        seen.push(body);
        const code = failures.shift();
        if (code) throw new SynodError(code as 'TIMEOUT', code);
        return { key: 'k', version: 3 };
      },
    });
    expect(await client.compareAndSet('k', 2, 'x')).toEqual({ version: 3 });
    expect(seen).toHaveLength(4);
    expect(new Set(seen.map((b) => JSON.stringify(b))).size).toBe(1); // one opId for every attempt
  });

  it('does not re-send a refusal, and an acquire the server timed out is a LockTimeoutError', async () => {
    let calls = 0;
    let acquires = 0;
    const client = new LockClient({
      namespace: 't',
      request: async (_s, raw) => {
        calls++;
        const body = raw as Body;
        if (body.type === 'session') return { lease: 5, ttlMs: 1000 };
        if (body.type === 'revoke') return { revoked: true };
        acquires++;
        throw new WireError('TIMEOUT', 'lock a is not free', false, { waiting: false, position: 1 });
      },
    });
    await expect(client.tryAcquire('a', { ttlMs: 1000 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(acquires).toBe(1);
    expect(calls).toBe(2); // session, one acquire (the server took the key out itself: no cancel)
    await client.close();
    expect(calls).toBe(3); // the session's revoke
  });

  it("a long wait made of shorter ones times out with the caller's wait in its message", async () => {
    const client = new LockClient({
      namespace: 't',
      pollMs: 20,
      request: async (_s, raw) => {
        const body = raw as Body;
        if (body.type === 'session') return { lease: 5, ttlMs: 1000 };
        if (body.type === 'revoke') return { revoked: true };
        if (body.type === 'cancel') return { deleted: true };
        const wait = body.timeoutMs as number;
        await new Promise((r) => setTimeout(r, wait));
        throw new WireError('TIMEOUT', `lock a not granted within ${wait} ms`, false, body.keepWaiting ? { waiting: true, position: 1, revision: 3 } : { waiting: false, position: 1 });
      },
    });
    const err = await client.acquire('a', { ttlMs: 1000, timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as Error).message).toBe('lock a not granted within 100 ms');
    expect((err as LockTimeoutError).details).toMatchObject({ position: 1 });
    await client.close();
  });

  /** A fake lock manager for sessions: grants leases, keys per name, counts every request by type. */
  function sessionServer(opts: { failRelease?: boolean; minTtlMs?: number } = {}) {
    const counts: Record<string, number> = {};
    const bodies: Body[] = [];
    let nextLease = 100;
    let rev = 0;
    const held = new Map<string, number>(); // name -> lease
    const request: LockRequestFn = async (_s, raw) => {
      const body = raw as Body;
      bodies.push(body);
      counts[body.type] = (counts[body.type] ?? 0) + 1;
      switch (body.type) {
        case 'session':
          return { lease: nextLease++, ttlMs: Math.max(body.ttlMs as number, opts.minTtlMs ?? 0) };
        case 'keepAlive':
          return { lease: body.lease, ttlMs: 1000 };
        case 'revoke':
          for (const [n, l] of held) if (l === body.lease) held.delete(n);
          return { revoked: true };
        case 'acquire':
          held.set(body.name as string, body.lease as number);
          return { name: body.name, mode: body.mode, lease: body.lease, token: ++rev, key: `k/${String(body.name)}` };
        case 'release':
          if (opts.failRelease) throw new SynodError('UNAVAILABLE', 'no store');
          held.delete(body.name as string);
          return { released: true };
        case 'cancel':
          return { deleted: true };
      }
      throw new Error(`unexpected ${body.type}`);
    };
    return { counts, bodies, held, request };
  }

  it('locks of one client share a session lease; the same name twice rides on two sessions', async () => {
    const srv = sessionServer();
    const client = new LockClient({ namespace: 't', request: srv.request, sessionIdleMs: 60_000 });
    const a = await client.acquire('a', { ttlMs: 3000 });
    const b = await client.acquire('b', { ttlMs: 3000 });
    expect(b.lease).toBe(a.lease);
    expect(srv.counts.session).toBe(1);
    // A second holder of 'a' in the same client must not reuse a's key (it would be let in at once).
    const a2 = client.acquire('a', { ttlMs: 3000 });
    expect((await a2).lease).not.toBe(a.lease);
    expect(srv.counts.session).toBe(2);
    // Another TTL, another session.
    const c = await client.acquire('c', { ttlMs: 5000 });
    expect([a.lease, (await a2).lease]).not.toContain(c.lease);
    // Release is one request naming the mode (one compare-and-delete), and does not end the session.
    expect(await a.release()).toBe(true);
    expect(srv.bodies.at(-1)).toMatchObject({ type: 'release', name: 'a', lease: a.lease, token: a.token, mode: 'mutex' });
    expect(srv.counts.revoke).toBeUndefined();
    const d = await client.acquire('d', { ttlMs: 3000 });
    expect(d.lease).toBe(a.lease);
    await client.close();
    expect(srv.counts.revoke).toBe(3);
    expect(srv.held.size).toBe(0);
  });

  it('a TTL the store raised to its minimum is the one the lock reports and keeps alive by', async () => {
    const srv = sessionServer({ minTtlMs: 300 });
    const client = new LockClient({ namespace: 't', request: srv.request, sessionIdleMs: 60_000 });
    const a = await client.acquire('a', { ttlMs: 30 });
    expect(a.ttlMs).toBe(300);
    // Keep-alives every third of the granted TTL (100 ms), not of the 30 ms asked for.
    await new Promise((r) => setTimeout(r, 250));
    expect(srv.counts.keepAlive).toBeGreaterThanOrEqual(1);
    expect(srv.counts.keepAlive).toBeLessThanOrEqual(3);
    expect(srv.bodies.filter((b) => b.type === 'session')).toEqual([{ type: 'session', ttlMs: 30 }]);
    // Another lock asking for the same TTL rides on the same session.
    expect((await client.acquire('b', { ttlMs: 30 })).lease).toBe(a.lease);
    await client.close();
  });

  it('an idle session is revoked after sessionIdleMs; a release nobody took retires the session at once', async () => {
    const srv = sessionServer();
    const client = new LockClient({ namespace: 't', request: srv.request, sessionIdleMs: 30 });
    const a = await client.acquire('a', { ttlMs: 3000 });
    await a.release();
    expect(srv.counts.revoke).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.counts.revoke).toBe(1);
    expect(srv.bodies.at(-1)).toMatchObject({ type: 'revoke', lease: a.lease });
    const b = await client.acquire('b', { ttlMs: 3000 });
    expect(b.lease).not.toBe(a.lease);
    await b.release();

    const failing = sessionServer({ failRelease: true });
    const f = new LockClient({ namespace: 't', request: failing.request, timeoutMs: 50, retry: { initialMs: 1, maxMs: 2 } });
    const x = await f.acquire('x', { ttlMs: 3000 });
    expect(await x.release()).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    // The key may still stand: its lease is revoked so the lock is freed, and no new lock rides on it.
    expect(failing.counts.revoke).toBe(1);
    expect(failing.held.size).toBe(0);
    const y = await f.acquire('y', { ttlMs: 3000 });
    expect(y.lease).not.toBe(x.lease);
    await f.close();
    await client.close();
  });

  it('withOptimisticRetry: 20 concurrent increments lose nothing, even when replies are lost after applying', async () => {
    let lost = 0;
    const server = fakeServer();
    // Lose every 7th cas reply after it applied: the retry carries the same opId.
    const lossy: LockRequestFn = async (s, b, o) => {
      const r = await server.request(s, b, o);
      if ((b as Body).type === 'cas' && ++lost % 7 === 0) throw new SynodError('TIMEOUT', 'reply lost');
      return r;
    };
    const clients = Array.from({ length: 20 }, () => new LockClient({ namespace: 't', request: lossy, retry: { initialMs: 1, maxMs: 2 } }));
    const results = await Promise.all(clients.map((c) => c.withOptimisticRetry('ctr', (v) => String(Number(v ?? '0') + 1), { maxAttempts: 200, backoff: { initialMs: 1, maxMs: 5 } })));
    expect(server.data.get('ctr')).toMatchObject({ value: '20', version: 20 });
    expect(new Set(results.map((r) => r.version)).size).toBe(20);
  });

  it('withOptimisticRetry gives up with a clear error after maxAttempts', async () => {
    const server = fakeServer((body) => {
      // Someone else always writes between our read and our cas.
      if (body.type === 'cas') server.data.set('k', { value: 'x', version: (server.data.get('k')?.version ?? 0) + 1, ops: [] });
    });
    const client = new LockClient({ namespace: 't', request: server.request });
    const err = await client.withOptimisticRetry('k', () => 'mine', { maxAttempts: 3, backoff: { initialMs: 1, maxMs: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyConflictsError);
    expect((err as Error).message).toMatch(/still conflicting after 3 attempts/);
  });

  it('backoff is jittered between half and all of the capped step', () => {
    expect(backoffMs(1, 10, 100, () => 0)).toBe(5);
    expect(backoffMs(1, 10, 100, () => 1)).toBe(10);
    expect(backoffMs(10, 10, 100, () => 1)).toBe(100);
  });
});
