import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { AppProcess, appScript } from '@synod/testkit';
import { ENGINES, ReplicaCluster } from '@synod/cluster-kit';
import { encodePeerMessage } from '@synod/raft';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** How often the replicas log their summary of dropped peer garbage in these tests. */
const DROP_LOG_INTERVAL_MS = 1000;

describe.each(ENGINES)('%s: three replicas: election, reads and writes, bad input', (engine) => {
  let c: ReplicaCluster;

  beforeAll(async () => {
    c = await ReplicaCluster.start(3, { DROP_LOG_INTERVAL_MS: String(DROP_LOG_INTERVAL_MS) }, { engine });
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('elect one leader that every replica agrees on', async () => {
    const leader = await c.leader();
    const st = await c.status(leader);
    expect(st.role).toBe('leader');
    expect(st.membership.voters).toEqual(['n1', 'n2', 'n3']);
    expect(Object.keys(st.progress ?? {}).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('writes and reads: put, get at every consistency, delete, range by prefix, txn', async () => {
    const a = await c.put('app/a', '1');
    const b = await c.put('app/b', '2');
    expect(b.revision).toBe(a.revision + 1);
    expect(await c.get('app/a')).toBe('1');
    expect(await c.get('app/a', 'lease')).toBe('1');
    const range = (await c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'app/', prefix: true } })) as { kvs: { key: string }[]; count: number };
    expect(range.kvs.map((k) => k.key)).toEqual(['app/a', 'app/b']);
    const txn = (await c.write({
      op: 'txn',
      compare: [{ key: 'app/a', target: 'value', op: '=', value: '1' }],
      success: [{ op: 'put', key: 'app/a', value: 'changed' }],
      failure: [{ op: 'put', key: 'app/a', value: 'unexpected' }],
    })) as { succeeded: boolean };
    expect(txn.succeeded).toBe(true);
    expect(await c.get('app/a')).toBe('changed');
    const del = (await c.write({ op: 'delete', key: 'app/', prefix: true })) as { deleted: number };
    expect(del.deleted).toBe(2);
    expect(await c.get('app/b')).toBeNull();
  });

  it('stale reads on any replica carry the revision they read at', async () => {
    const { revision } = await c.put('stale', 'x');
    // Every replica applies it soon; a stale read says which revision it saw.
    for (const id of c.ids) {
      for (let i = 0; i < 100; i++) {
        const r = (await c.call(subjects.kvNode(c.namespace, id), { type: 'range', consistency: 'stale', request: { key: 'stale' } })) as { revision: number; kvs: unknown[] };
        if (r.revision >= revision) {
          expect(r.kvs).toHaveLength(1);
          break;
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  });

  it('a retried write (same client id and seq) applies once and gets the original answer', async () => {
    const body = { type: 'write', session: { clientId: 'retry-test', seq: 1 }, op: { op: 'put', key: 'once', value: 'v' } };
    const first = (await c.call(subjects.kvLeader(c.namespace), body)) as { revision: number };
    const again = (await c.call(subjects.kvLeader(c.namespace), body)) as { revision: number };
    expect(again).toEqual(first);
    const kv = (await c.call(subjects.kvLeader(c.namespace), { type: 'range', request: { key: 'once' } })) as { kvs: { version: number; modRevision: number }[] };
    expect(kv.kvs[0]).toMatchObject({ version: 1, modRevision: first.revision });
  });

  it('followers answer NOT_LEADER with the leader named', async () => {
    const leader = await c.leader();
    const follower = c.ids.find((id) => id !== leader)!;
    const err = await c.call(subjects.kvNode(c.namespace, follower), { type: 'write', session: { clientId: 'x', seq: 1 }, op: { op: 'put', key: 'k', value: 'v' } }, 300).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NOT_LEADER', details: { leader } });
  });

  describe('garbage, wrong types and oversized payloads', () => {
    const ask = async (subject: string, data: Uint8Array): Promise<unknown> => JSON.parse(dec.decode((await c.nc.request(subject, data, { timeout: 5000 })).data));

    it.each(['kvLeader', 'kvNode', 'kvAny', 'kvWatch'] as const)('%s answers with the envelope and keeps serving', async (which) => {
      const leader = await c.leader();
      const subject = which === 'kvLeader' || which === 'kvAny' ? subjects[which](c.namespace) : subjects[which](c.namespace, leader);
      expect(await ask(subject, enc.encode('{not json'))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await ask(subject, enc.encode(JSON.stringify({ type: 'write', session: { clientId: 'c', seq: 'one' }, op: { op: 'put', key: 1 } })))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await ask(subject, enc.encode(JSON.stringify({ type: 'range', request: { key: 'x', limit: -3 } })))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await ask(subject, new Uint8Array(900 * 1024).fill(0x20))).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
      await c.put('still', which);
      expect(await c.get('still')).toBe(which);
    });

    it('a batch write with garbage inside is refused whole, with the reason; the leader keeps serving', async () => {
      const subject = subjects.kvLeader(c.namespace);
      const batch = (ops: unknown) => enc.encode(JSON.stringify({ type: 'write', session: { clientId: 'batch-garbage', seq: 1 }, op: { op: 'batch', ops } }));
      expect(await ask(subject, batch('not a list'))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await ask(subject, batch([]))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('at least one write') } });
      expect(await ask(subject, batch([{ op: 'put', key: 'ok', value: 'v' }, { op: 'leaseGrant', ttlMs: 1000 }]))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await ask(subject, batch([{ op: 'put', key: 7, value: 'v' }]))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await ask(subject, batch([{ op: 'batch', ops: [{ op: 'put', key: 'nested', value: 'v' }] }]))).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      const tooMany = Array.from({ length: 257 }, (_, i) => ({ op: 'put', key: `b${i}`, value: '' }));
      expect(await ask(subject, batch(tooMany))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('at most 256') } });
      const big = Array.from({ length: 3 }, (_, i) => ({ op: 'put', key: `big${i}`, value: 'x'.repeat(300 * 1024) }));
      expect(await ask(subject, batch(big))).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
      // None of it applied.
      expect(await c.get('ok')).toBeNull();
      await c.put('after-batch-garbage', 'ok');
      expect(await c.get('after-batch-garbage')).toBe('ok');
    });

    it('a watch asking for a line head (firstOf), a one-shot or a NOPUT filter of the wrong type or size is refused; the replica keeps serving', async () => {
      const leader = await c.leader();
      const subject = subjects.kvNode(c.namespace, leader);
      const watch = (firstOf: unknown) => enc.encode(JSON.stringify({ type: 'watch', watchId: `fo-${Math.random()}`, inbox: '_INBOX.never', filter: { key: 'a' }, firstOf }));
      expect(await ask(subject, watch(5))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('firstOf') } });
      expect(await ask(subject, watch(''))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('firstOf') } });
      expect(await ask(subject, watch('p'.repeat(5000)))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('firstOf') } });
      expect(await ask(subject, watch('line/'))).toMatchObject({ result: { node: leader } });
      // The one-shot flag and the NOPUT filter, of the wrong type.
      const raw = (body: object) => enc.encode(JSON.stringify({ type: 'watch', watchId: `fo-${Math.random()}`, inbox: '_INBOX.never', filter: { key: 'a' }, ...body }));
      expect(await ask(subject, raw({ once: 'yes' }))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('once') } });
      expect(await ask(subject, raw({ filter: { key: 'a', noPut: 1 } }))).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('noPut') } });
      // A watch aimed at a subject that is not the client's inbox: a peer subject, the store's API, a wildcard.
      for (const inbox of [subjects.peer(c.namespace, leader), subjects.kvLeader(c.namespace), '_INBOX.>', '_INBOX.*', 'x.>']) {
        expect(await ask(subject, raw({ inbox })), inbox).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('inbox') } });
      }
      await c.put('after-firstof-garbage', 'ok');
      expect(await c.get('after-firstof-garbage')).toBe('ok');
    });

    it('peer garbage on a peer subject is dropped and logged as a bounded summary; the cluster keeps serving', async () => {
      const leader = await c.leader();
      const linesBefore = new Map(c.ids.map((id) => [id, c.app(id).lines.length]));
      const dropLines = (id: string) => c.app(id).lines.slice(linesBefore.get(id)).filter((l) => l.msg === 'invalid peer messages dropped') as { count?: number; examples?: Record<string, string> }[];
      // Well framed in Raft's format, a wrong type inside: a heartbeat whose term is 2.5 (the
      // float64 after version, type and the two length-prefixed node ids). Sent first, so it is the
      // line logged at once.
      for (const id of c.ids) {
        const wrongType = encodePeerMessage({ type: 'heartbeat', from: 'zz', to: id, term: 1, commit: 0, readRound: 0 }).slice();
        new DataView(wrongType.buffer).setFloat64(2 + 1 + 2 + 1 + id.length, 2.5, true);
        c.nc.publish(subjects.peer(c.namespace, id), wrongType);
      }
      await c.nc.flush();
      for (const id of c.ids) await c.app(id).waitForLine((l) => l.msg === 'invalid peer messages dropped', 5000);
      if (engine === 'raft') {
        for (const id of c.ids) expect(JSON.stringify(dropLines(id)[0]?.examples)).toContain('term is 2.5');
      }
      expect(await c.leader()).toBe(leader);
      // A flood of 2,000 bad messages per replica: summed up, not a line per message.
      const FLOOD = 2000;
      for (const id of c.ids) {
        for (let i = 0; i < FLOOD; i++) {
          const garbage = [enc.encode(`garbage ${i}`), new Uint8Array([10, 0, 0, 0, ...enc.encode('{"type":1}')]), new Uint8Array(500 + i)][i % 3]!;
          c.nc.publish(subjects.peer(c.namespace, id), garbage);
        }
      }
      await c.nc.flush();
      const counted = (id: string) => dropLines(id).reduce((n, l) => n + (l.count ?? 0), 0);
      const deadline = Date.now() + 3 * DROP_LOG_INTERVAL_MS + 5000;
      while (c.ids.some((id) => counted(id) < FLOOD + 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const id of c.ids) {
        expect(counted(id)).toBe(FLOOD + 1);
        // At most two lines per interval: the first drop at once, then one summary.
        expect(dropLines(id).length).toBeLessThanOrEqual(4);
        for (const l of dropLines(id)) expect(Object.keys(l.examples ?? {}).length).toBeLessThanOrEqual(16);
      }
      // The flood may cost a busy host a heartbeat or two (and so an election): what must hold is that
      // the cluster serves.
      await c.put('after-garbage', 'ok');
      expect(await c.get('after-garbage')).toBe('ok');
    });
  });
});

describe('bad configuration exits with status 2 naming the variable', () => {
  it.each([
    [{ PEERS: '' }, 'PEERS'],
    [{ PEERS: 'n1,bad.id' }, 'PEERS'],
    [{ NODE_ID: 'a b' }, 'NODE_ID'],
    [{ DATA_DIR: '' }, 'DATA_DIR'],
    [{ TICK_MS: '0' }, 'TICK_MS'],
    [{ ENGINE: 'zab' }, 'ENGINE'],
    [{ ENGINE: 'paxos', PAXOS_WINDOW: '0' }, 'PAXOS_WINDOW'],
    [{ HEAP_MODE: 'tiny' }, 'HEAP_MODE'],
    [{ HEAP_TRIM_QUIET_MS: 'soon' }, 'HEAP_TRIM_QUIET_MS'],
    [{ SNAPSHOT_LOG_PERCENT: '-1' }, 'SNAPSHOT_LOG_PERCENT'],
    [{ THRIFTY_HOLD_MS: 'abc' }, 'THRIFTY_HOLD_MS'],
    [{ THRIFTY_HEDGE_MS: '0' }, 'THRIFTY_HEDGE_MS'],
    [{ HEARTBEAT_TICKS: '10', ELECTION_TICKS: '10' }, 'HEARTBEAT_TICKS'],
    [{ WATCH_INBOX_PREFIXES: 'ok.prefix,bad.>' }, 'WATCH_INBOX_PREFIXES'],
    [{ DROP_LOG_INTERVAL_MS: '5' }, 'DROP_LOG_INTERVAL_MS'],
    [{ SYNOD_ENV: 'production' }, 'NATS_TLS_CERT'],
    [{ NATS_TLS_CERT: '/nonexistent/cert.pem', NATS_TLS_KEY: '/nonexistent/key.pem' }, 'NATS_TLS_CERT'],
    [{ SYNOD_ENV: 'production', NATS_USER: 'consensus', NATS_PASSWORD: 'consensus-dev-secret' }, 'NATS_PASSWORD'],
  ])('%o', async (env, variable) => {
    const r = await AppProcess.runToExit({
      script: appScript('consensus'),
      env: { NATS_URL: 'nats://127.0.0.1:1', NODE_ID: 'n1', PEERS: 'n1', DATA_DIR: '/tmp/synod-never-used', ...env },
    });
    expect(r.code).toBe(2);
    expect(r.app.stderr.join('\n')).toContain(`${variable}:`);
  });
});

describe.runIf(ENGINES.includes('raft'))('raft: thrifty replication on real replicas', () => {
  const HOLD_MS = 50;
  // A hedge long enough that a cold replica on this shared machine does not trigger one by itself.
  const HEDGE_MS = 300;
  let c: ReplicaCluster;

  beforeAll(async () => {
    c = await ReplicaCluster.start(3, { HTTP_PORT: '0', THRIFTY_HOLD_MS: String(HOLD_MS), THRIFTY_HEDGE_MS: String(HEDGE_MS) }, { engine: 'raft' });
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('under a steady write load the leader holds one follower\'s appends and sends them in batches; every replica still gets every write', async () => {
    const leader = await c.leader();
    let last = 0;
    for (let i = 0; i < 50; i++) last = (await c.put(`thrifty/${i}`, String(i))).revision;
    const port = c.app(leader).lines.find((l) => l.msg === 'ready')?.httpPort as number;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const count = (event: string) => Number(new RegExp(`synod_thrifty_appends_total\\{event="${event}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? NaN);
    expect(count('held')).toBeGreaterThan(0);
    expect(count('batch')).toBeGreaterThan(0);
    // A held follower lags by at most the hold: within it (and a generous margin for this shared
    // machine) a stale read on every replica sees the last write.
    for (const id of c.ids) {
      const until = Date.now() + HOLD_MS + 2000;
      let seen = 0;
      while (seen < last && Date.now() < until) {
        const r = (await c.call(subjects.kvNode(c.namespace, id), { type: 'range', consistency: 'stale', request: { key: `thrifty/49` } })) as { revision: number; kvs: { value: string }[] };
        seen = r.kvs.length === 1 ? r.revision : 0;
        if (seen < last) await new Promise((res) => setTimeout(res, 10));
      }
      expect(seen, `replica ${id}`).toBeGreaterThanOrEqual(last);
    }
  });

  it('the follower the leader counts on stopped with SIGSTOP: writes go on through the held one, which gets each within the hold', async () => {
    const leader = await c.leader();
    const [first, second] = c.ids.filter((id) => id !== leader).sort();
    // While both are healthy the leader counts on the first follower by id: pause that one.
    const paused = c.app(first!);
    paused.child.kill('SIGSTOP');
    try {
      for (let i = 0; i < 10; i++) {
        const { revision } = await c.put(`thrifty/paused/${i}`, String(i));
        // Committed with the leader and the held follower only: that one holds it already.
        const r = (await c.call(subjects.kvNode(c.namespace, second!), { type: 'range', consistency: 'stale', request: { key: `thrifty/paused/${i}` } })) as { revision: number; kvs: unknown[] };
        expect(r.revision).toBeGreaterThanOrEqual(revision - 1);
      }
    } finally {
      paused.child.kill('SIGCONT');
    }
  });
});
