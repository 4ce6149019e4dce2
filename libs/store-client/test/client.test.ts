import { LEADER_DISCOVERY_BUDGET_MS, SynodError, type ErrorCode } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, StoreClient, backoffMs, type StoreClientOptions } from '../src/index.js';
import { FakeClock, HANG, fakeTransport, kv, type Sent } from './fakes.js';

const NS = 'unit';

function setup(handler: (s: Sent, n: number) => unknown, opts: Partial<StoreClientOptions> = {}) {
  const clock = new FakeClock(true);
  const t = fakeTransport(clock, handler);
  const client = new StoreClient({ namespace: NS, clientId: 'cid', request: t.request, subscribe: t.subscribe, createInbox: t.createInbox, clock, random: () => 0.5, ...opts });
  return { clock, client, sent: t.sent };
}

const putOk = (revision = 7) => ({ op: 'put', revision });
const fail = (code: ErrorCode) => {
  throw new SynodError(code, `fake ${code}`);
};

describe('retries', () => {
  const retried: ErrorCode[] = ['NO_RESPONDERS', 'NOT_LEADER', 'UNAVAILABLE', 'OVERLOADED', 'SHUTTING_DOWN', 'TIMEOUT'];
  for (const code of retried) {
    it(`retries ${code} with growing jittered backoff and then succeeds`, async () => {
      const { client, sent, clock } = setup((_s, n) => (n <= 3 ? fail(code) : putOk()));
      await expect(client.put('a', '1')).resolves.toEqual({ revision: 7 });
      expect(sent).toHaveLength(4);
      // random 0.5: three quarters of 50, 100, 200
      expect(clock.sleeps).toEqual([37.5, 75, 150]);
    });
  }

  const notRetried: ErrorCode[] = ['BAD_REQUEST', 'LEASE_NOT_FOUND', 'KEY_NOT_FOUND', 'COMPACTED', 'FUTURE_REVISION', 'INTERNAL', 'BAD_GATEWAY', 'DEADLINE_EXCEEDED', 'LEASE_EXISTS'];
  for (const code of notRetried) {
    it(`throws ${code} at once`, async () => {
      const { client, sent } = setup(() => fail(code));
      const err = await client.get('a').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SynodError);
      expect(err).toMatchObject({ code });
      expect(sent).toHaveLength(1);
    });
  }

  it('does not retry a retryable code the server flagged as not retryable', async () => {
    const { client, sent } = setup(() => {
      throw new SynodError('UNAVAILABLE', 'no', { retryable: false });
    });
    await expect(client.get('a')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(sent).toHaveLength(1);
  });

  it('stays within the deadline and throws the last error (NO_RESPONDERS)', async () => {
    const { client, sent, clock } = setup(() => fail('NO_RESPONDERS'), { timeoutMs: 5000 });
    await expect(client.put('a', '1')).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    expect(clock.now()).toBeLessThanOrEqual(5000);
    // 37.5 + 75 + 150 + 300 + 375 * n (the backoff capped at 500 ms, half the leader-discovery
    // budget): sleeps while they fit in 5000 ms
    const total = clock.sleeps.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(5000);
    expect(total + 375).toBeGreaterThan(5000 - 1);
    expect(sent).toHaveLength(clock.sleeps.length + 1);
    expect(sent.length).toBe(16);
  });

  it('gives each attempt at most attemptTimeoutMs of the remaining budget and ends with TIMEOUT', async () => {
    const { client, sent, clock } = setup(() => HANG, { timeoutMs: 5000, attemptTimeoutMs: 2000 });
    const err = await client.get('a').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(clock.now()).toBeGreaterThan(4990);
    expect(clock.now()).toBeLessThanOrEqual(5000);
    expect(sent.map((s) => s.timeoutMs)).toEqual([2000, 2000, 887]);
    // one request id for every attempt of a call
    expect(new Set(sent.map((s) => s.requestId)).size).toBe(1);
  });

  it('a keep-alive gives up on an attempt after half the leader-discovery budget, so a dead leader costs no more of the lease', async () => {
    const { client, sent } = setup((_s, n) => (n <= 2 ? HANG : { id: 9, ttlMs: 4500 }), { timeoutMs: 5000, attemptTimeoutMs: 2000 });
    await expect(client.leaseKeepAliveOnce(9)).resolves.toEqual({ id: 9, ttlMs: 4500 });
    expect(sent.map((s) => s.timeoutMs)).toEqual([LEADER_DISCOVERY_BUDGET_MS / 2, LEADER_DISCOVERY_BUDGET_MS / 2, LEADER_DISCOVERY_BUDGET_MS / 2]);
    // The retry backoff stays within the other half.
    expect(DEFAULT_RETRY.maxMs).toBeLessThanOrEqual(LEADER_DISCOVERY_BUDGET_MS / 2);
  });

  it('a per-call timeout overrides the client default', async () => {
    const { client, clock } = setup(() => HANG, { timeoutMs: 5000, attemptTimeoutMs: 100_000 });
    await expect(client.get('a', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(clock.now()).toBe(300);
  });

  it('an abort signal ends the call with its reason', async () => {
    const controller = new AbortController();
    const { client, sent } = setup((_s, n) => {
      if (n === 2) controller.abort(new Error('stop'));
      return fail('NOT_LEADER');
    });
    await expect(client.get('a', { signal: controller.signal })).rejects.toThrow('stop');
    expect(sent).toHaveLength(2);
  });

  it('backoff is capped at maxMs and jittered between half and all of it', () => {
    const p = { initialMs: 50, maxMs: 1000 };
    expect(backoffMs(1, p, () => 0)).toBe(25);
    expect(backoffMs(1, p, () => 1)).toBe(50);
    expect(backoffMs(10, p, () => 0)).toBe(500);
    expect(backoffMs(10, p, () => 1)).toBe(1000);
    expect(backoffMs(1000, p, () => 0.999)).toBeLessThanOrEqual(1000);
  });
});

describe('exactly-once writes', () => {
  it('resends the same seq on a retry and uses a new seq for the next write', async () => {
    const { client, sent } = setup((_s, n) => (n === 1 ? HANG : putOk(n)));
    await client.put('a', '1');
    await client.put('b', '2');
    const sessions = sent.map((s) => s.body.session);
    expect(sessions).toEqual([
      { clientId: 'cid', seq: 1, ackBelow: 1 },
      { clientId: 'cid', seq: 1, ackBelow: 1 },
      { clientId: 'cid', seq: 2, ackBelow: 2 },
    ]);
    expect(sent[0]?.body).toEqual(sent[1]?.body);
  });

  it('ackBelow is the lowest seq still waiting for its answer', async () => {
    const clock = new FakeClock(true);
    const release: (() => void)[] = [];
    const t = fakeTransport(clock, (s) => {
      const session = s.body.session as { seq: number };
      if (session.seq === 1) return new Promise((resolve) => release.push(() => resolve(putOk(1))));
      return putOk(session.seq);
    });
    const client = new StoreClient({ namespace: NS, clientId: 'cid', request: t.request, clock });
    const first = client.put('a', '1');
    await client.put('b', '2');
    release[0]?.();
    await first;
    await client.put('c', '3');
    expect(t.sent.map((s) => s.body.session)).toEqual([
      { clientId: 'cid', seq: 1, ackBelow: 1 },
      { clientId: 'cid', seq: 2, ackBelow: 1 },
      { clientId: 'cid', seq: 3, ackBelow: 3 },
    ]);
  });

  it('a write given up on no longer holds ackBelow back', async () => {
    const { client, sent } = setup((_s, n) => (n === 1 ? fail('KEY_NOT_FOUND') : putOk()));
    await expect(client.put('a', '', { ignoreValue: true })).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' });
    await client.put('a', '1');
    expect(sent[1]?.body.session).toEqual({ clientId: 'cid', seq: 2, ackBelow: 2 });
  });

  it('starts a new session when the store forgot this one (SESSION_STALE on a first attempt)', async () => {
    const { client, sent } = setup((_s, n) => (n === 2 ? fail('SESSION_STALE') : putOk()));
    await client.put('a', '1');
    await client.put('b', '2');
    const [s1, s2, s3] = sent.map((s) => s.body.session as { clientId: string; seq: number; ackBelow: number });
    expect(s2).toEqual({ clientId: 'cid', seq: 2, ackBelow: 2 });
    expect(s3?.clientId).not.toBe('cid');
    expect(s3?.clientId.startsWith('cid~')).toBe(true);
    expect(s3).toMatchObject({ seq: 1, ackBelow: 1 });
    expect(client.clientId).toBe(s3?.clientId);
    expect(s1?.seq).toBe(1);
  });

  it('SESSION_STALE on a retry is thrown (the first attempt may have been applied)', async () => {
    const { client, sent } = setup((_s, n) => (n === 1 ? HANG : fail('SESSION_STALE')));
    await expect(client.put('a', '1')).rejects.toMatchObject({ code: 'SESSION_STALE' });
    expect(sent).toHaveLength(2);
  });
});

describe('requests and replies', () => {
  it('routes each request to its subject', async () => {
    const status = { id: 'n2', role: 'follower', leader: 'n1', term: 3, commitIndex: 9, appliedIndex: 9, lastIndex: 9, revision: 4, compactRevision: 0, keys: 2, membership: { voters: ['n1', 'n2'], learners: [] }, engine: 'raft', minLeaseTtlMs: 4500, maxElectionTimeoutMs: 2000 };
    const { client, sent } = setup((s) => {
      if (s.body.type === 'range') return { revision: 4, kvs: [kv('a', '1', 2)], count: 1, more: false };
      if (s.body.type === 'status') return status;
      return undefined;
    });
    await client.get('a');
    await client.get('a', { consistency: 'stale' });
    await client.get('a', { consistency: 'lease', revision: 3 });
    await client.status();
    await client.status('n2');
    expect(sent.map((s) => s.subject)).toEqual(['unit.kv.leader', 'unit.kv.any', 'unit.kv.leader', 'unit.kv.leader', 'unit.kv.node.n2']);
    expect(sent[2]?.body).toEqual({ type: 'range', consistency: 'lease', request: { key: 'a', revision: 3 } });
  });

  it('get returns the key or undefined, with the revision read at', async () => {
    const { client } = setup((s) => {
      const key = (s.body.request as { key: string }).key;
      return key === 'a' ? { revision: 4, kvs: [kv('a', '1', 2)], count: 1, more: false } : { revision: 4, kvs: [], count: 0, more: false };
    });
    expect(await client.get('a')).toEqual(kv('a', '1', 2));
    expect(await client.get('b')).toBeUndefined();
    expect(await client.getWithRevision('b')).toEqual({ kv: undefined, revision: 4 });
  });

  it('a malformed reply is BAD_GATEWAY, not a crash, and is not retried', async () => {
    const { client, sent } = setup(() => ({ revision: 'x' }));
    const err = await client.range({ key: 'a' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SynodError);
    expect(err).toMatchObject({ code: 'BAD_GATEWAY' });
    expect(sent).toHaveLength(1);
  });

  it('a write answered with another op is BAD_GATEWAY', async () => {
    const { client } = setup(() => ({ op: 'delete', revision: 3, deleted: 0 }));
    await expect(client.put('a', '1')).rejects.toMatchObject({ code: 'BAD_GATEWAY' });
  });

  it('an invalid request fails at once with BAD_REQUEST and is never sent', async () => {
    const { client, sent } = setup(() => putOk());
    await expect(client.put('', 'v')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(client.range({ key: 'a', limit: -1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(client.leaseGrant(0)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(sent).toHaveLength(0);
  });

  it('with validateRequests off, a request goes out unchecked and the store\'s BAD_REQUEST comes back once, not retried', async () => {
    const { client, sent } = setup((s) => ((s.body as { op?: { key?: string } }).op?.key === '' ? fail('BAD_REQUEST') : putOk()), { validateRequests: false });
    await expect(client.put('', 'v')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toMatchObject({ type: 'write', op: { op: 'put', key: '', value: 'v' } });
    // A good request is sent exactly as with validation on.
    await expect(client.put('a', 'v')).resolves.toEqual({ revision: 7 });
    expect(sent[1]?.body).toEqual({ type: 'write', session: { clientId: 'cid', seq: 2, ackBelow: 2 }, op: { op: 'put', key: 'a', value: 'v' } });
  });

  it('sends txn, leases, compaction and membership as the store expects', async () => {
    const { client, sent } = setup((s) => {
      switch (s.body.type) {
        case 'write': {
          const op = (s.body.op as { op: string }).op;
          if (op === 'txn') return { op, revision: 5, succeeded: true, results: [{ op: 'put', revision: 5 }] };
          if (op === 'leaseGrant') return { op, id: 9, ttlMs: 3000 };
          if (op === 'leaseRevoke') return { op, revision: 6, deleted: 1 };
          if (op === 'delete') return { op, revision: 7, deleted: 2 };
          return undefined;
        }
        case 'compact':
          return { op: 'compact', revision: 7, compactRevision: 3 };
        case 'member':
          return { index: 12 };
        case 'transfer':
          return { to: 'n2' };
        case 'leases':
          return { leases: [{ id: 9, ttlMs: 3000, keys: ['a'] }] };
        case 'leaseTimeToLive':
          return { id: 9, ttlMs: 3000, remainingMs: 2000, keys: [] };
        default:
          return undefined;
      }
    });
    expect(await client.txn({ compare: [{ key: 'a', target: 'version', op: '=', value: 0 }], success: [{ op: 'put', key: 'a', value: '1' }], failure: [] })).toEqual({
      revision: 5,
      succeeded: true,
      results: [{ op: 'put', revision: 5 }],
    });
    expect(await client.leaseGrant(3000)).toEqual({ id: 9, ttlMs: 3000 });
    expect(await client.leaseRevoke(9)).toEqual({ revision: 6, deleted: 1 });
    expect(await client.delete('p/', { prefix: true })).toEqual({ revision: 7, deleted: 2 });
    expect(await client.compact(3)).toEqual({ revision: 7, compactRevision: 3 });
    expect(await client.memberAddLearner('n4')).toEqual({ index: 12 });
    expect(await client.memberPromote('n4')).toEqual({ index: 12 });
    expect(await client.memberRemove('n4')).toEqual({ index: 12 });
    expect(await client.transferLeadership()).toEqual({ to: 'n2' });
    expect(await client.leases()).toEqual([{ id: 9, ttlMs: 3000, keys: ['a'] }]);
    expect(await client.leaseTimeToLive(9)).toMatchObject({ remainingMs: 2000 });
    expect(sent.map((s) => s.body.type === 'write' ? (s.body.op as { op: string }).op : s.body.type)).toEqual([
      'txn', 'leaseGrant', 'leaseRevoke', 'delete', 'compact', 'member', 'member', 'member', 'transfer', 'leases', 'leaseTimeToLive',
    ]);
    expect(sent[5]?.body).toEqual({ type: 'member', change: { type: 'addLearner', node: 'n4' } });
    expect(sent.every((s) => s.subject === 'unit.kv.leader')).toBe(true);
  });

  it('reads a snapshot in chunks and starts over when a new leader does not know the token', async () => {
    const bytes = Buffer.from('0123456789abcdef');
    const chunk = (token: string, offset: number, end: number) => ({
      token,
      index: 40,
      revision: 12,
      size: bytes.length,
      offset,
      data: bytes.subarray(offset, end).toString('base64'),
      done: end >= bytes.length,
    });
    const { client, sent } = setup((s, n) => {
      const offset = s.body.offset as number;
      if (n === 2) return fail('BAD_REQUEST'); // leader changed: token unknown
      const token = n === 1 ? 't1' : 't2';
      return chunk(token, offset, offset + 6);
    });
    const snap = await client.snapshotWithInfo();
    expect(Buffer.from(snap.data).toString()).toBe('0123456789abcdef');
    expect(snap).toMatchObject({ index: 40, revision: 12 });
    expect(sent.map((s) => [s.body.offset, s.body.token])).toEqual([
      [0, undefined],
      [6, 't1'],
      [0, undefined],
      [6, 't2'],
      [12, 't2'],
    ]);
  });

  it('needs nc or a request function', () => {
    expect(() => new StoreClient({ namespace: NS })).toThrow(/nc/);
    expect(() => new StoreClient({ namespace: 'bad ns', request: async () => undefined })).toThrow(/namespace/);
  });
});
