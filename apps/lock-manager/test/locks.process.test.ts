import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minLeaseTtlMs, subjects } from '@synod/protocol';
import { LockClient, LockTimeoutError, type Lock } from '@synod/locks';
import { AppProcess, appScript, metricSum, scrapeMetrics } from '@synod/testkit';
import { FencedResource, HolderProcess, LockCluster, MAX_ELECTION_MS, serveFencedResource, SharedResource, sleep, TICK_MS } from '@synod/cluster-kit';
import { StoreClient } from '@synod/store-client';

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('lock manager on a real store', () => {
  let c: LockCluster;
  const client = (opts: { pollMs?: number } = {}) => new LockClient({ nc: c.nc, namespace: c.namespace, attemptTimeoutMs: 800, pollMs: opts.pollMs ?? 500 });

  beforeAll(async () => {
    c = await LockCluster.start(2);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('(b) fairness: waiters are granted in arrival order, and a release wakes exactly one of them', async () => {
    const lc = client({ pollMs: 20_000 });
    const holder = await lc.acquire('fair', { ttlMs: 3000 });
    const order: number[] = [];
    const pending: Promise<Lock>[] = [];
    for (let i = 0; i < 5; i++) {
      pending.push(
        lc.acquire('fair', { ttlMs: 3000, timeoutMs: 15_000 }).then((l) => {
          order.push(i);
          return l;
        }),
      );
      // Wait until this waiter is in line before the next arrives.
      while ((await lc.state('fair')).waiters.length < i + 1) await sleep(10);
    }
    const st = await lc.state('fair');
    expect(st.holders.map((h) => h.token)).toEqual([holder.token]);
    expect(st.holders[0]!.leaseRemainingMs).toBeGreaterThan(0);
    expect(st.waiters).toHaveLength(5);
    let previous: Lock = holder;
    for (let i = 0; i < 5; i++) {
      const before = await c.metric('synod_lock_wakeups_total');
      const fastBefore = await c.metric('synod_lock_grants_on_wakeup_total');
      await previous.release();
      const next = await pending[i]!;
      await sleep(150);
      expect(await c.metric('synod_lock_wakeups_total')).toBe(before + 1); // exactly one waiter woke
      // Every waiter takes the lock from its wake-up, with no re-read: the first watched the whole
      // name, the others only the key before theirs (one waiter woken per release), and each event
      // came with the head of the line as the store saw it then (`firstOf`) — this waiter's key.
      expect(await c.metric('synod_lock_grants_on_wakeup_total')).toBe(fastBefore + 1);
      expect(order).toEqual(Array.from({ length: i + 1 }, (_, k) => k));
      expect(next.token).toBeGreaterThan(previous.token);
      const s = await lc.state('fair');
      expect(s.holders.map((h) => h.token)).toEqual([next.token]);
      expect(s.waiters).toHaveLength(4 - i);
      previous = next;
    }
    await previous.release();
  });

  it('metrics: a wait is counted while in line and timed to its grant, every instance counts the holds in the store, a stale token is refused and counted', async () => {
    const lc = client({ pollMs: 20_000 });
    const sum = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
      let total = 0;
      for (const port of c.managerPorts) total += metricSum(await scrapeMetrics(port), name, labels);
      return total;
    };
    const perInstance = async (name: string): Promise<number[]> => Promise.all(c.managerPorts.map(async (port) => metricSum(await scrapeMetrics(port), name)));
    const before = {
      waits: await sum('synod_lock_waits_total'),
      grants: await sum('synod_lock_grants_total', { mode: 'mutex' }),
      timed: await sum('synod_lock_wait_duration_seconds_count', { mode: 'mutex' }),
      waitedSeconds: await sum('synod_lock_wait_duration_seconds_sum', { mode: 'mutex' }),
      refusals: await sum('synod_lock_fencing_refusals_total'),
    };
    expect(await perInstance('synod_locks_held')).toEqual([0, 0]);
    const holder = await lc.acquire('metered', { ttlMs: 5000 });
    const waiter = lc.acquire('metered', { ttlMs: 5000, timeoutMs: 15_000 });
    while ((await lc.state('metered')).waiters.length < 1) await sleep(10);
    for (const until = Date.now() + 5000; (await sum('synod_lock_waiting')) !== 1 && Date.now() < until; ) await sleep(20);
    expect(await sum('synod_lock_waiting')).toBe(1);
    expect(await perInstance('synod_locks_held')).toEqual([1, 1]);
    const heldFor = Date.now();
    await sleep(200);
    await holder.release();
    const next = await waiter;
    expect(await sum('synod_lock_waiting')).toBe(0);
    expect(await sum('synod_lock_waits_total')).toBe(before.waits + 1);
    expect(await sum('synod_lock_grants_total', { mode: 'mutex' })).toBe(before.grants + 2);
    expect(await sum('synod_lock_wait_duration_seconds_count', { mode: 'mutex' })).toBe(before.timed + 2);
    // The waiter waited at least the 200 ms the holder kept the lock.
    expect(await sum('synod_lock_wait_duration_seconds_sum', { mode: 'mutex' })).toBeGreaterThanOrEqual(before.waitedSeconds + 0.2);
    expect(await sum('synod_lock_wait_duration_seconds_sum', { mode: 'mutex' })).toBeLessThanOrEqual(before.waitedSeconds + (2 * (Date.now() - heldFor + 1000)) / 1000);
    // The old holder's token names no holder now: refused, and counted.
    await expect(c.raw({ type: 'release', name: 'metered', lease: holder.lease, token: holder.token, mode: 'mutex' })).rejects.toMatchObject({ code: 'NOT_HOLDER' });
    expect(await sum('synod_lock_fencing_refusals_total')).toBe(before.refusals + 1);
    await next.release();
    expect(await perInstance('synod_locks_held')).toEqual([0, 0]);
  });

  it('(c) a holder whose keep-alives stop loses the lock to the next waiter within TTL + 2 s; lock-delay holds it back', async () => {
    const lc = client();
    const ttlMs = 1000;
    const dead = await lc.acquire('crash', { ttlMs });
    dead.stopKeepAlive();
    const stoppedAt = Date.now();
    const next = await lc.acquire('crash', { ttlMs: 3000, timeoutMs: 8000 });
    const waited = Date.now() - stoppedAt;
    expect(next.token).toBeGreaterThan(dead.token);
    expect(waited).toBeLessThanOrEqual(ttlMs + 2000);
    expect(waited).toBeGreaterThanOrEqual(ttlMs - 400);
    await next.release();
    expect(await dead.release()).toBe(false);

    // With a lock-delay, the waiter is granted no earlier than the delay after the expiry.
    const dead2 = await lc.acquire('crash2', { ttlMs });
    dead2.stopKeepAlive();
    const t0 = Date.now();
    const delayed = await lc.acquire('crash2', { ttlMs: 3000, timeoutMs: 8000, lockDelayMs: 800 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(ttlMs - 400 + 800);
    // A clean release is not delayed.
    const clean = await lc.acquire('crash3', { ttlMs: 3000 });
    const t1 = Date.now();
    const after = lc.acquire('crash3', { ttlMs: 3000, timeoutMs: 5000, lockDelayMs: 2000 });
    await sleep(100);
    await clean.release();
    await (await after).release();
    expect(Date.now() - t1).toBeLessThan(1500);
    await delayed.release();
  });

  it('(c) a holder process killed with SIGKILL: the next waiter gets the lock within TTL + the longest election + one expiry sweep', async () => {
    const resource = new FencedResource();
    const subject = `${c.namespace}.test.resource`;
    const served = serveFencedResource(c.nc, subject, resource);
    // The store's minimum lease TTL: a holder asking for less is raised to it.
    const ttlMs = minLeaseTtlMs(MAX_ELECTION_MS);
    // A child process that takes the lock and holds it (a section far longer than the test).
    const holder = new HolderProcess({ NATS_URL: c.nats.url, SYNOD_NAMESPACE: c.namespace, RESOURCE_SUBJECT: subject, LOCK_NAME: 'killed', TTL_MS: String(ttlMs), CLIENTS: '1', HOLD_MS: '600000' });
    try {
      const i = await holder.waitFor(0, (l) => l.began !== undefined && l.ok === true, 20_000);
      expect(i, holder.stderr.slice(-10).join('\n')).toBeGreaterThanOrEqual(0);
      const heldToken = holder.lines[i]!.began!;
      expect((await client().state('killed')).holders.map((h) => h.token)).toEqual([heldToken]);
      const expiriesBefore = await c.metric('synod_lock_expiries_total');
      holder.signal('SIGKILL');
      const killedAt = Date.now();
      const next = await client().acquire('killed', { ttlMs: 3000, timeoutMs: ttlMs + 5000 });
      const waited = Date.now() - killedAt;
      expect(next.token).toBeGreaterThan(heldToken);
      // The lease expires at most a TTL after the kill; the leader's sweep (every tick) sees it; a
      // leader elected meanwhile would first give it a full TTL. Then the expiry is committed and the
      // waiter woken: within two store attempts of the lock manager (STORE_ATTEMPT_TIMEOUT_MS).
      expect(waited).toBeLessThanOrEqual(ttlMs + MAX_ELECTION_MS + TICK_MS + 2 * Number(c.managerEnv().STORE_ATTEMPT_TIMEOUT_MS));
      // Its lease ran out: not a moment before the TTL since its last keep-alive (TTL / 3 ago at most).
      expect(waited).toBeGreaterThanOrEqual(ttlMs - ttlMs / 3 - 200);
      expect(resource.begin(next.token)).toBe(true);
      expect(resource.commit(heldToken)).toBe(false); // the dead holder's token is fenced off
      // The waiter saw the dead holder's key go with its lease.
      expect(await c.metric('synod_lock_expiries_total')).toBe(expiriesBefore + 1);
      await next.release();
    } finally {
      await holder.stop();
      served.stop();
    }
  });

  it('(d) read-write lock and semaphore: readers together, a writer alone, permits never exceeded', async () => {
    const rw = new SharedResource();
    const sem = new SharedResource();
    let running = true;
    const loop = async (fn: () => Promise<void>) => {
      while (running) await fn();
    };
    const clients = Array.from({ length: 8 }, () => client());
    const rwLoops = clients.map((lc, i) =>
      loop(async () => {
        const mode = i % 4 === 0 ? 'write' : 'read';
        await lc.withLock(
          'rw',
          async () => {
            rw.enter(mode);
            await sleep(mode === 'read' ? 30 : 10);
            rw.exit(mode);
          },
          { mode, ttlMs: 3000, timeoutMs: 10_000 },
        );
      }),
    );
    const semLoops = clients.map((lc) =>
      loop(async () => {
        await lc.withLock(
          'pool',
          async () => {
            sem.enter('semaphore', 3);
            await sleep(20);
            sem.exit('semaphore');
          },
          { mode: 'semaphore', permits: 3, ttlMs: 3000, timeoutMs: 10_000 },
        );
      }),
    );
    // Readers share: 4 readers hold at once while a writer waits.
    const readers = await Promise.all([0, 1, 2, 3].map(() => client().acquire('rw2', { mode: 'read' })));
    const writer = client().acquire('rw2', { mode: 'write', timeoutMs: 5000 });
    await sleep(200);
    const st = await clients[0]!.state('rw2');
    expect(st.holders).toHaveLength(4);
    expect(st.waiters.map((w) => w.mode)).toEqual(['write']);
    const lateReader = client().acquire('rw2', { mode: 'read', timeoutMs: 5000 });
    await sleep(200);
    expect((await clients[0]!.state('rw2')).waiters.map((w) => w.mode)).toEqual(['write', 'read']); // no reader jumps the writer
    await Promise.all(readers.map((r) => r.release()));
    const w = await writer;
    expect((await clients[0]!.state('rw2')).holders.map((h) => h.mode)).toEqual(['write']);
    await w.release();
    await (await lateReader).release();

    // Semaphore: three permits, three holders at once; a fourth waits for one of them.
    const permitted = await Promise.all([0, 1, 2].map(() => client().acquire('pool2', { mode: 'semaphore', permits: 3, timeoutMs: 5000 })));
    const fourth = client().acquire('pool2', { mode: 'semaphore', permits: 3, timeoutMs: 5000 });
    await sleep(200);
    const pool = await clients[0]!.state('pool2');
    expect(pool.holders).toHaveLength(3);
    expect(pool.waiters).toHaveLength(1);
    await permitted[0]!.release();
    await (await fourth).release();
    await Promise.all(permitted.slice(1).map((p) => p.release()));

    await sleep(3000);
    running = false;
    await Promise.all([...rwLoops, ...semLoops]);
    expect(rw.violations).toEqual([]);
    expect(sem.violations).toEqual([]);
    expect(rw.maxReaders).toBeGreaterThan(1);
    expect(sem.maxHolders).toBe(3);
  });

  it('(e) optimistic: 20 clients incrementing one counter with withOptimisticRetry lose no update', async () => {
    const clients = Array.from({ length: 20 }, () => client());
    const results = await Promise.all(clients.map((lc) => lc.withOptimisticRetry('ctr', (v) => String(Number(v ?? '0') + 1), { maxAttempts: 100 })));
    expect(await clients[0]!.read('ctr')).toEqual({ value: '20', version: 20 });
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // A stale version is a CONFLICT carrying the current version.
    const err = await clients[0]!.compareAndSet('ctr', 3, 'x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFLICT', currentVersion: 20 });
  });

  it('concurrent acquires and releases reach the store batched: fewer store requests than writes, each lock granted and released once', async () => {
    const txns = () => c.metric('synod_lock_store_writes_total\\{kind="txns"[^}]*\\}');
    const requests = () => c.metric('synod_lock_store_writes_total\\{kind="requests"[^}]*\\}');
    const [t0, r0] = [await txns(), await requests()];
    const clients = Array.from({ length: 4 }, () => client());
    const names = Array.from({ length: 40 }, (_, i) => `batch-${i}`);
    const locks = await Promise.all(names.map((n, i) => clients[i % 4]!.acquire(n, { ttlMs: 5000, timeoutMs: 10_000 })));
    expect(new Set(locks.map((l) => l.token)).size).toBe(names.length);
    expect(await Promise.all(locks.map((l) => l.release()))).toEqual(names.map(() => true));
    const [t1, r1] = [await txns(), await requests()];
    // 40 acquires and 40 releases, each one txn; sent while others were in flight, most share a request.
    expect(t1 - t0).toBeGreaterThanOrEqual(80);
    expect(r1 - r0).toBeLessThan(t1 - t0);
    for (const n of names) expect((await clients[0]!.state(n)).holders).toEqual([]);
    await Promise.all(clients.map((lc) => lc.close()));
  });

  it('(b) a wait continued with fromRevision keeps its place and token; a continued wait whose key is gone goes to the back of the line', async () => {
    const session = async () => ((await c.raw({ type: 'session', ttlMs: 5000 })) as { lease: number }).lease;
    const [a, b, d] = [await session(), await session(), await session()];
    const acquire = (lease: number, extra: object = {}) => c.raw({ type: 'acquire', name: 'cont', lease, timeoutMs: 100, keepWaiting: true, ...extra }, 3000);
    const held = (await acquire(a)) as { token: number };
    const waiting = (err: unknown) => (err as { details: { waiting: boolean; position: number; revision: number } }).details;
    const w1 = waiting(await acquire(b).catch((e: unknown) => e));
    expect(w1).toMatchObject({ waiting: true, position: 1 });
    await expect(acquire(d)).rejects.toMatchObject({ code: 'TIMEOUT', details: { waiting: true, position: 2 } });
    const tokenOf = async (lease: number) => (await c.raw({ type: 'state', name: 'cont' }) as { waiters: { lease: number; createRevision: number }[] }).waiters.find((w) => w.lease === lease)?.createRevision;
    const bToken = await tokenOf(b);
    // Continued twice: same place, same key (createRevision) each time.
    for (let i = 0; i < 2; i++) {
      await expect(acquire(b, { fromRevision: w1.revision })).rejects.toMatchObject({ code: 'TIMEOUT', details: { waiting: true, position: 1 } });
      expect(await tokenOf(b)).toBe(bToken);
    }
    // b gives its place up; a continued wait puts the key back, behind d.
    await c.raw({ type: 'cancel', name: 'cont', lease: b });
    await expect(acquire(b, { fromRevision: w1.revision })).rejects.toMatchObject({ code: 'TIMEOUT', details: { waiting: true, position: 2 } });
    expect(await tokenOf(b)).toBeGreaterThan(bToken!);
    await c.raw({ type: 'release', name: 'cont', lease: a, token: held.token, mode: 'mutex' });
    await expect(acquire(d, { fromRevision: w1.revision })).resolves.toMatchObject({ name: 'cont', lease: d });
    for (const lease of [a, b, d]) await c.raw({ type: 'revoke', lease });
  });

  it('a key of another shape under a lock name never hides the holder from a newcomer', async () => {
    // A newcomer to a mutex reads only the two newest keys of the line; if one is not a
    // contender's key, the key that matters may be further back, so it must read the whole line.
    const store = new StoreClient({ nc: c.nc, namespace: c.namespace });
    const lc = client();
    const holder = await lc.acquire('odd', { ttlMs: 5000 });
    await store.put('locks/odd/not-a-mode', 'x');
    await expect(lc.acquire('odd', { ttlMs: 5000, timeoutMs: 0 })).rejects.toBeInstanceOf(LockTimeoutError);
    const waiter = lc.acquire('odd', { ttlMs: 5000, timeoutMs: 10_000 });
    await sleep(200);
    expect((await lc.state('odd')).holders.map((h) => h.token)).toEqual([holder.token]);
    await holder.release();
    const next = await waiter;
    expect(next.token).toBeGreaterThan(holder.token);
    await next.release();
    await store.delete('locks/odd/not-a-mode');
    await store.close();
  });

  it('(f) garbage, wrong types and oversized requests get structured errors and the service keeps serving', async () => {
    const subject = subjects.lockApi(c.namespace);
    const rawReply = async (payload: Uint8Array) => JSON.parse(dec.decode((await c.nc.request(subject, payload, { timeout: 3000 })).data)) as { error?: { code: string; message: string } };
    expect((await rawReply(enc.encode('not json{'))).error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/not valid JSON/) });
    expect((await rawReply(enc.encode('{"type":"acquire","name":5,"lease":"x","timeoutMs":-1}'))).error).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/name must be a string[\s\S]*lease must be an integer[\s\S]*timeoutMs must not be negative/),
    });
    expect((await rawReply(enc.encode('[1,2,3]'))).error).toMatchObject({ code: 'BAD_REQUEST' });
    expect((await rawReply(enc.encode(JSON.stringify({ type: 'cas', key: 'k', expectedVersion: 0, value: 'x'.repeat(100_000) })))).error).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    // Codes beyond the catalog travel as sent.
    expect((await rawReply(enc.encode(JSON.stringify({ type: 'release', name: 'nobody', lease: 1, token: 1 })))).error).toMatchObject({ code: 'NOT_HOLDER' });
    await expect(client().acquire('x', { ttlMs: 1000 }).then((l) => l.release())).resolves.toBe(true);
    const lc = client();
    const a = await lc.tryAcquire('try', { ttlMs: 2000 });
    await expect(lc.tryAcquire('try', { ttlMs: 2000 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect((await lc.state('try')).waiters).toEqual([]); // tryAcquire removed its key
    await expect(c.raw({ type: 'release', name: 'try', lease: a.lease, token: a.token + 1 })).rejects.toMatchObject({ code: 'NOT_HOLDER' });
    await expect(c.raw({ type: 'release', name: 'try', lease: a.lease, token: a.token + 1, mode: 'mutex' })).rejects.toMatchObject({ code: 'NOT_HOLDER' });
    expect(await a.release()).toBe(true);
    // A release ends the lock, not the session; closing the client revokes the session's lease.
    expect((await lc.keepAliveOnce(a.lease)).lease).toBe(a.lease);
    await lc.close();
    await expect(lc.keepAliveOnce(a.lease)).rejects.toMatchObject({ code: 'LEASE_LOST' });
    expect(await a.release()).toBe(true); // answered once, the same answer again
  });

  it('lists every held or awaited lock a page at a time, with holders, tokens, lease left and waiters in order', async () => {
    const lc = client({ pollMs: 20_000 });
    const names = ['list-a', 'list-b', 'list-c', 'list-d', 'list-e'];
    const held = await Promise.all(names.map((n) => lc.acquire(n, { ttlMs: 5000 })));
    const waiting = lc.acquire('list-c', { ttlMs: 5000, timeoutMs: 15_000 });
    while ((await lc.state('list-c')).waiters.length < 1) await sleep(10);
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = (await c.raw({ type: 'list', limit: 2, ...(after === undefined ? {} : { after }) })) as { locks: { name: string; holders: { token: number; lease: number; leaseRemainingMs: number | null }[]; waiters: unknown[] }[]; next: string | null };
      expect(page.locks.length).toBeLessThanOrEqual(2);
      for (const l of page.locks) {
        if (!l.name.startsWith('list-')) continue;
        seen.push(l.name);
        const i = names.indexOf(l.name);
        expect(l.holders.map((h) => h.token)).toEqual([held[i]!.token]);
        expect(l.holders[0]!.leaseRemainingMs).toBeGreaterThan(0);
        expect(l.waiters).toHaveLength(l.name === 'list-c' ? 1 : 0);
      }
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(names);
    await held[2]!.release();
    const next = await waiting;
    for (const l of [...held.filter((_, i) => i !== 2), next]) await l.release();
    await expect(c.raw({ type: 'list', limit: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('limit') });
    await expect(c.raw({ type: 'list', after: 'a/b' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await lc.close();
  });

  it("force-release on the admin subject deletes the holder's key by its token; the next token is larger; garbage gets the envelope", async () => {
    const lc = client();
    const a = await lc.acquire('forced', { ttlMs: 5000 });
    const admin = async (body: unknown) =>
      JSON.parse(dec.decode((await c.nc.request(subjects.lockAdmin(c.namespace), enc.encode(typeof body === 'string' ? body : JSON.stringify(body)), { timeout: 3000 })).data)) as {
        result?: { released: boolean; lease: number | null };
        error?: { code: string; message: string };
      };
    // A token that does not hold: nothing deleted.
    expect((await admin({ type: 'forceRelease', name: 'forced', token: a.token + 1000, actor: 'ops' })).result).toEqual({ released: false, key: null, lease: null });
    expect((await lc.state('forced')).holders.map((h) => h.token)).toEqual([a.token]);
    expect((await admin({ type: 'forceRelease', name: 'forced', token: a.token, actor: 'ops' })).result).toMatchObject({ released: true, lease: a.lease });
    expect((await lc.state('forced')).holders).toEqual([]);
    const b = await lc.acquire('forced', { ttlMs: 5000 });
    expect(b.token).toBeGreaterThan(a.token);
    await Promise.any(c.managers.map((m) => m.waitForLine((l) => l.msg === 'lock force-released by an admin' && l.actor === 'ops' && l.token === a.token, 5000)));
    for (const garbage of ['{nope', JSON.stringify({ type: 'forceRelease', name: 5, token: 'x', actor: '' }), JSON.stringify({ type: 'acquire', name: 'forced' }), JSON.stringify({ type: 'forceRelease', name: 'forced', token: 1, actor: 'x'.repeat(500_000) })]) {
      const r = await admin(garbage);
      expect(r.error?.code).toMatch(/^(BAD_REQUEST|PAYLOAD_TOO_LARGE)$/);
    }
    expect(await b.release()).toBe(true);
    await lc.close();
  });

  it('(f) a bad environment exits with status 2 and names the variable', async () => {
    const envs: Record<string, string>[] = [{ STORE_TIMEOUT_MS: 'soon' }, { STORE_WRITES_IN_FLIGHT: '-1' }, { LOCK_KEY_PREFIX: 'a/b' }, { LOCK_KEY_PREFIX: 'same', DATA_KEY_PREFIX: 'same' }];
    for (const env of envs) {
      const r = await AppProcess.runToExit({ script: appScript('lock-manager'), env: c.managerEnv(env) });
      expect(r.code).toBe(2);
      expect(r.app.stderr.join('')).toMatch(new RegExp(Object.keys(env).at(-1)!));
    }
  });
});
