import type { KvWriteOp } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { type KvApplyResult, KvStateMachine } from '../src/index.js';

/** A machine with a log index counter, taking requests from any client with explicit seqs. */
function machine(options?: ConstructorParameters<typeof KvStateMachine>[0]) {
  const m = new KvStateMachine(options);
  let index = 0;
  const send = (clientId: string, seq: number, op: KvWriteOp, ackBelow?: number): KvApplyResult =>
    m.apply(++index, { type: 'request', session: { clientId, seq, ...(ackBelow === undefined ? {} : { ackBelow }) }, op });
  const command = (cmd: Parameters<KvStateMachine['apply']>[1]) => m.apply(++index, cmd);
  return { m, send, command };
}

function withoutDuplicateFlag(r: KvApplyResult) {
  const { duplicate: _d, events: _e, revision: _r, ...outcome } = r;
  return outcome;
}

describe('exactly-once sessions', () => {
  it('answers a retried put with the original result and applies nothing', () => {
    const { m, send } = machine();
    const first = send('c', 1, { op: 'put', key: 'k', value: 'v', prevKv: true });
    send('other', 1, { op: 'put', key: 'k', value: 'w' });
    const retry = send('c', 1, { op: 'put', key: 'k', value: 'v', prevKv: true });
    expect(retry).toEqual({ ok: true, result: { op: 'put', revision: 1 }, revision: 2, events: [], duplicate: true });
    expect(withoutDuplicateFlag(retry)).toEqual(withoutDuplicateFlag(first));
    expect(m.revision).toBe(2);
    expect(m.range({ key: 'k' })).toMatchObject({ ok: true, result: { kvs: [{ value: 'w', version: 2 }] } });
  });

  it('answers a retried txn and a retried lease grant with their original results', () => {
    const { m, send } = machine();
    const txn: KvWriteOp = {
      op: 'txn',
      compare: [{ key: 'lock', target: 'createRevision', op: '=', value: 0 }],
      success: [{ op: 'put', key: 'lock', value: 'me' }],
      failure: [{ op: 'range', key: 'lock' }],
    };
    const first = send('c', 1, txn);
    expect(first).toMatchObject({ ok: true, result: { succeeded: true } });
    // Re-running it would fail the compare; the retry still says it succeeded.
    const retry = send('c', 1, txn);
    expect(retry.duplicate).toBe(true);
    expect(withoutDuplicateFlag(retry)).toEqual(withoutDuplicateFlag(first));

    const grant = send('c', 2, { op: 'leaseGrant', ttlMs: 5000 });
    const again = send('c', 2, { op: 'leaseGrant', ttlMs: 5000 });
    expect(withoutDuplicateFlag(again)).toEqual(withoutDuplicateFlag(grant));
    expect(m.leases()).toHaveLength(1);
  });

  it('caches errors too: a retry gets the original error even if it would now succeed', () => {
    const { send } = machine();
    const failed = send('c', 1, { op: 'put', key: 'k', value: 'v', lease: 50 });
    expect(failed).toMatchObject({ ok: false, error: { code: 'LEASE_NOT_FOUND' } });
    send('c', 2, { op: 'leaseGrant', ttlMs: 1000, id: 50 });
    expect(send('c', 1, { op: 'put', key: 'k', value: 'v', lease: 50 })).toMatchObject({
      ok: false,
      error: { code: 'LEASE_NOT_FOUND' },
      duplicate: true,
    });
    const invalid = send('c', 3, { op: 'put', key: '', value: '' });
    expect(send('c', 3, { op: 'put', key: 'fine', value: '' })).toEqual({ ...invalid, duplicate: true });
  });

  it('forgets acknowledged seqs and answers them SESSION_STALE', () => {
    const { m, send } = machine();
    send('c', 1, { op: 'put', key: 'a', value: '1' });
    send('c', 2, { op: 'put', key: 'b', value: '1' }, 1);
    send('c', 3, { op: 'put', key: 'c', value: '1' }, 2);
    const stale = send('c', 1, { op: 'put', key: 'a', value: '1' });
    expect(stale).toMatchObject({ ok: false, error: { code: 'SESSION_STALE', message: expect.stringContaining('seq 1') } });
    expect(stale.duplicate).toBeUndefined();
    // Seq 2 is still cached (ackBelow 2 forgets only seq 1).
    expect(send('c', 2, { op: 'put', key: 'b', value: '1' }).duplicate).toBe(true);
    expect(m.revision).toBe(3);
    // A later, smaller ackBelow does not bring anything back.
    send('c', 4, { op: 'put', key: 'd', value: '1' }, 1);
    expect(send('c', 1, { op: 'put', key: 'a', value: '1' }).ok).toBe(false);
  });

  it('refuses ackBelow above seq as INVALID', () => {
    const { send } = machine();
    expect(send('c', 2, { op: 'put', key: 'a', value: '1' }, 3)).toMatchObject({
      ok: false,
      error: { code: 'INVALID', message: expect.stringContaining('ackBelow must not be above seq') },
    });
  });

  it('keeps at most maxResultsPerSession results, dropping the lowest seqs, which then become stale', () => {
    const { m, send } = machine({ maxResultsPerSession: 3 });
    for (let seq = 1; seq <= 5; seq++) send('c', seq, { op: 'put', key: `k${seq}`, value: '' });
    expect(send('c', 2, { op: 'put', key: 'k2', value: '' })).toMatchObject({ ok: false, error: { code: 'SESSION_STALE' } });
    for (const seq of [3, 4, 5]) expect(send('c', seq, { op: 'put', key: `k${seq}`, value: '' }).duplicate).toBe(true);
    expect(m.revision).toBe(5);
  });

  it('keeps at most maxSessions sessions, evicting the least recently used', () => {
    const { m, send } = machine({ maxSessions: 2 });
    send('a', 1, { op: 'put', key: 'a', value: '' });
    send('b', 1, { op: 'put', key: 'b', value: '' });
    // Touch a, so b is now the least recently used.
    expect(send('a', 1, { op: 'put', key: 'a', value: '' }).duplicate).toBe(true);
    send('c', 1, { op: 'put', key: 'c', value: '' });
    expect(m.sessionCount).toBe(2);
    expect(send('a', 1, { op: 'put', key: 'a', value: '' }).duplicate).toBe(true);
    // b was evicted: its retry without acknowledgements is applied as new (documented limit)...
    expect(send('b', 1, { op: 'put', key: 'b', value: '' }).duplicate).toBeUndefined();
    // ...but a client that had acknowledged answers learns its session is gone.
    send('d', 1, { op: 'put', key: 'd', value: '' });
    send('e', 1, { op: 'put', key: 'e', value: '' });
    expect(send('a', 2, { op: 'put', key: 'a', value: '' }, 2)).toMatchObject({
      ok: false,
      error: { code: 'SESSION_STALE', message: expect.stringContaining('no session') },
    });
  });

  it('expires sessions through the log', () => {
    const { m, send, command } = machine();
    send('a', 1, { op: 'put', key: 'a', value: '' });
    send('b', 1, { op: 'put', key: 'b', value: '' });
    expect(command({ type: 'expireSessions', clientIds: ['a', 'zzz'] })).toMatchObject({
      ok: true,
      result: { op: 'expireSessions', expired: 1 },
    });
    expect(m.sessionCount).toBe(1);
    expect(send('a', 2, { op: 'put', key: 'a', value: '' }, 2)).toMatchObject({ ok: false, error: { code: 'SESSION_STALE' } });
  });

  it('survives snapshot and restore: a retry after restore gets the cached result', () => {
    const { m, send } = machine();
    const first = send('c', 1, { op: 'txn', compare: [], success: [{ op: 'put', key: 'x', value: '1', prevKv: true }], failure: [] });
    const restored = KvStateMachine.restore(m.snapshot());
    const retry = restored.apply(100, {
      type: 'request',
      session: { clientId: 'c', seq: 1 },
      op: { op: 'txn', compare: [], success: [{ op: 'put', key: 'x', value: '1', prevKv: true }], failure: [] },
    });
    expect(withoutDuplicateFlag(retry)).toEqual(withoutDuplicateFlag(first));
    expect(restored.revision).toBe(1);
  });
});

describe('batches of writes', () => {
  it('apply each write in order with its own revision and outcome; a retry gets the same answer', () => {
    const { m, send } = machine();
    const batch: KvWriteOp = {
      op: 'batch',
      ops: [
        { op: 'put', key: 'a', value: '1' },
        { op: 'put', key: 'b', value: '2', lease: 77 },
        { op: 'txn', compare: [{ key: 'a', target: 'version', op: '=', value: 1 }], success: [{ op: 'delete', key: 'a' }], failure: [] },
        { op: 'put', key: 'a', value: '3' },
      ],
    };
    const first = send('c', 1, batch);
    expect(first).toMatchObject({
      ok: true,
      revision: 3,
      result: {
        op: 'batch',
        revision: 3,
        results: [
          { ok: true, result: { op: 'put', revision: 1 } },
          { ok: false, error: { code: 'LEASE_NOT_FOUND' } },
          { ok: true, result: { op: 'txn', revision: 2, succeeded: true } },
          { ok: true, result: { op: 'put', revision: 3 } },
        ],
      },
    });
    expect(first.events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual([
      ['put', 'a', 1],
      ['delete', 'a', 2],
      ['put', 'a', 3],
    ]);
    const retry = send('c', 1, batch);
    expect(retry.duplicate).toBe(true);
    expect(withoutDuplicateFlag(retry)).toEqual(withoutDuplicateFlag(first));
    expect(m.revision).toBe(3);
    expect(m.range({ key: 'a' })).toMatchObject({ ok: true, result: { kvs: [{ value: '3', version: 1, createRevision: 3 }] } });
  });

  it('refuse an empty batch and a batch holding a lease grant as INVALID', () => {
    const { send } = machine();
    expect(send('c', 1, { op: 'batch', ops: [] })).toMatchObject({ ok: false, error: { code: 'INVALID' } });
    expect(send('c', 2, { op: 'batch', ops: [{ op: 'leaseGrant', ttlMs: 1000 }] } as unknown as KvWriteOp)).toMatchObject({ ok: false, error: { code: 'INVALID' } });
  });
});
