import type { Compare, RangeRequest } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { KvStateMachine } from '../src/index.js';
import { Driver } from './helpers.js';

function kv(key: string, value: string, createRevision: number, modRevision: number, version: number, lease = 0) {
  return { key, value, createRevision, modRevision, version, lease };
}

function range(d: Driver, req: RangeRequest) {
  const r = d.m.range(req);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.result;
}

function keysOf(d: Driver, req: RangeRequest): string[] {
  return range(d, req).kvs.map((k) => k.key);
}

describe('put and delete', () => {
  it('starts empty at revision 0 and bumps the revision by one per put', () => {
    const d = Driver.create();
    expect(d.m.revision).toBe(0);
    expect(d.m.size).toBe(0);
    expect(range(d, { key: 'a' })).toEqual({ revision: 0, kvs: [], count: 0, more: false });
    expect(d.put('a', '1')).toEqual({ op: 'put', revision: 1 });
    expect(d.put('b', '2')).toEqual({ op: 'put', revision: 2 });
    expect(d.m.revision).toBe(2);
    expect(d.m.size).toBe(2);
  });

  it('keeps createRevision across updates, counts versions, and starts over after delete + recreate', () => {
    const d = Driver.create();
    d.put('k', 'v1');
    d.put('other', 'x');
    d.put('k', 'v2');
    expect(d.get('k')).toEqual(kv('k', 'v2', 1, 3, 2));
    expect(d.del('k')).toEqual({ op: 'delete', revision: 4, deleted: 1 });
    expect(d.get('k')).toBeUndefined();
    d.put('k', 'v3');
    expect(d.get('k')).toEqual(kv('k', 'v3', 5, 5, 1));
  });

  it('returns prevKv on put and prevKvs on delete when asked', () => {
    const d = Driver.create();
    expect(d.put('k', 'v1', { prevKv: true })).toEqual({ op: 'put', revision: 1 });
    expect(d.put('k', 'v2', { prevKv: true })).toEqual({ op: 'put', revision: 2, prevKv: kv('k', 'v1', 1, 1, 1) });
    d.put('k2', 'w');
    expect(d.del('k', { prefix: true, prevKv: true })).toEqual({
      op: 'delete',
      revision: 4,
      deleted: 2,
      prevKvs: [kv('k', 'v2', 1, 2, 2), kv('k2', 'w', 3, 3, 1)],
    });
  });

  it('does not bump the revision for a delete that deletes nothing', () => {
    const d = Driver.create();
    d.put('a', '1');
    expect(d.del('b')).toEqual({ op: 'delete', revision: 1, deleted: 0 });
    expect(d.del('x', { prefix: true, prevKv: true })).toEqual({ op: 'delete', revision: 1, deleted: 0, prevKvs: [] });
    expect(d.m.revision).toBe(1);
  });

  it('deletes by prefix only the keys starting with it, all at one revision, with ordered events', () => {
    const d = Driver.create();
    for (const k of ['a', 'ab', 'abc', 'ac', 'b']) d.put(k, k);
    const r = d.write({ op: 'delete', key: 'ab', prefix: true });
    expect(r.ok && r.result).toEqual({ op: 'delete', revision: 6, deleted: 2 });
    expect(r.events.map((e) => [e.type, e.kv.key, e.kv.modRevision])).toEqual([
      ['delete', 'ab', 6],
      ['delete', 'abc', 6],
    ]);
    expect(keysOf(d, { key: '', prefix: true })).toEqual(['a', 'ac', 'b']);
    expect(d.del('', { prefix: true }).deleted).toBe(3);
    expect(d.m.size).toBe(0);
  });

  it('keeps the value with ignoreValue and the lease with ignoreLease, and needs the key to exist', () => {
    const d = Driver.create();
    const { id } = d.grant(5000);
    d.put('k', 'v', { lease: id });
    expect(d.put('k', '', { ignoreValue: true })).toEqual({ op: 'put', revision: 2 });
    expect(d.get('k')).toEqual(kv('k', 'v', 1, 2, 2, 0));
    d.put('k', 'v2', { lease: id });
    d.put('k', 'v3', { ignoreLease: true });
    expect(d.get('k')).toEqual(kv('k', 'v3', 1, 4, 4, id));
    expect(d.fail({ op: 'put', key: 'nope', value: '', ignoreValue: true }).code).toBe('KEY_NOT_FOUND');
    expect(d.fail({ op: 'put', key: 'nope', value: 'x', ignoreLease: true }).code).toBe('KEY_NOT_FOUND');
    expect(d.m.revision).toBe(4);
    expect(d.fail({ op: 'put', key: 'k', value: 'x', ignoreValue: true }).code).toBe('INVALID');
  });

  it('answers malformed commands with INVALID and a readable message, without applying anything', () => {
    const d = Driver.create();
    const r = d.write({ op: 'put', key: '', value: 'x' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ code: 'INVALID', message: expect.stringContaining('key must not be empty') });
    const garbage = d.m.apply(++d.index, { type: 'explode' } as never);
    expect(garbage.ok).toBe(false);
    expect(d.m.apply(++d.index, null as never).ok).toBe(false);
    expect(d.m.revision).toBe(0);
  });

  it('throws only for a log index that does not increase', () => {
    const m = new KvStateMachine();
    m.apply(5, { type: 'noop' });
    expect(() => m.apply(5, { type: 'noop' })).toThrow(/log index 5/);
    expect(() => m.apply(4, { type: 'noop' })).toThrow(RangeError);
    expect(m.apply(9, { type: 'noop' })).toEqual({ ok: true, result: { op: 'noop' }, revision: 0, events: [] });
    expect(m.appliedIndex).toBe(9);
  });
});

describe('range', () => {
  function seeded(): Driver {
    const d = Driver.create();
    // Revisions: c=1, a=2, e=3, b=4, d=5, then a again at 6.
    for (const k of ['c', 'a', 'e', 'b', 'd']) d.put(`p/${k}`, k.toUpperCase());
    d.put('p/a', 'A2');
    d.put('q', 'outside');
    return d;
  }

  it('lists a prefix in key order with count and more', () => {
    const d = seeded();
    expect(keysOf(d, { key: 'p/', prefix: true })).toEqual(['p/a', 'p/b', 'p/c', 'p/d', 'p/e']);
    const r = range(d, { key: 'p/', prefix: true, limit: 2 });
    expect(r.kvs.map((k) => k.key)).toEqual(['p/a', 'p/b']);
    expect(r).toMatchObject({ revision: 7, count: 5, more: true });
    expect(range(d, { key: 'p/', prefix: true, limit: 5 }).more).toBe(false);
    expect(range(d, { key: 'p/a' }).kvs).toEqual([kv('p/a', 'A2', 2, 6, 2)]);
    expect(range(d, { key: 'p' }).count).toBe(0);
  });

  it('pages with after: keys strictly greater, count of what is left', () => {
    const d = seeded();
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const r = range(d, { key: 'p/', prefix: true, limit: 2, ...(after === undefined ? {} : { after }) });
      pages.push(r.kvs.map((k) => k.key));
      if (!r.more) break;
      after = r.kvs[r.kvs.length - 1]?.key;
    }
    expect(pages).toEqual([['p/a', 'p/b'], ['p/c', 'p/d'], ['p/e']]);
    expect(range(d, { key: 'p/', prefix: true, after: 'p/b' }).count).toBe(3);
    expect(range(d, { key: 'p/', prefix: true, after: 'a' }).count).toBe(5);
    expect(range(d, { key: 'p/', prefix: true, after: 'p/z' }).count).toBe(0);
    expect(range(d, { key: 'p/c', after: 'p/c' }).count).toBe(0);
    expect(range(d, { key: 'p/c', after: 'p/b' }).count).toBe(1);
  });

  it('sorts by createRevision and modRevision, ascending or descending, ties by key', () => {
    const d = seeded();
    const order = (req: Partial<RangeRequest>) => keysOf(d, { key: 'p/', prefix: true, ...req });
    expect(order({ sortBy: 'createRevision' })).toEqual(['p/c', 'p/a', 'p/e', 'p/b', 'p/d']);
    expect(order({ sortBy: 'createRevision', order: 'desc' })).toEqual(['p/d', 'p/b', 'p/e', 'p/a', 'p/c']);
    expect(order({ sortBy: 'modRevision' })).toEqual(['p/c', 'p/e', 'p/b', 'p/d', 'p/a']);
    expect(order({ sortBy: 'modRevision', order: 'desc', limit: 1 })).toEqual(['p/a']);
    expect(order({ order: 'desc' })).toEqual(['p/e', 'p/d', 'p/c', 'p/b', 'p/a']);
    // A txn creates x and y at one revision: the tie is broken by key.
    d.txn([], [
      { op: 'put', key: 'p/y', value: '' },
      { op: 'put', key: 'p/x', value: '' },
    ]);
    expect(order({ sortBy: 'createRevision', order: 'desc', limit: 3 })).toEqual(['p/x', 'p/y', 'p/d']);
  });

  it('returns keys only or a count only', () => {
    const d = seeded();
    expect(range(d, { key: 'p/a', keysOnly: true }).kvs).toEqual([kv('p/a', '', 2, 6, 2)]);
    expect(range(d, { key: 'p/', prefix: true, countOnly: true, limit: 1 })).toEqual({ revision: 7, kvs: [], count: 5, more: false });
  });

  it('reads at past revisions (MVCC) and refuses future ones', () => {
    const d = seeded();
    d.del('p/c');
    expect(keysOf(d, { key: 'p/', prefix: true, revision: 3 })).toEqual(['p/a', 'p/c', 'p/e']);
    expect(range(d, { key: 'p/a', revision: 5 }).kvs).toEqual([kv('p/a', 'A', 2, 2, 1)]);
    expect(range(d, { key: 'p/a', revision: 6 }).kvs).toEqual([kv('p/a', 'A2', 2, 6, 2)]);
    expect(range(d, { key: 'p/c', revision: 7 }).count).toBe(1);
    expect(range(d, { key: 'p/c', revision: 8 }).count).toBe(0);
    expect(range(d, { key: 'p/c', revision: 3 }).revision).toBe(3);
    const future = d.m.range({ key: 'p/a', revision: 9 });
    expect(future).toEqual({ ok: false, error: { code: 'FUTURE_REVISION', message: expect.any(String), revision: 8 } });
  });

  it('answers a malformed request with INVALID', () => {
    const d = seeded();
    const r = d.m.range({ key: '', limit: 10_001 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('INVALID');
      expect(r.error.message).toMatch(/limit must be at most 10000/);
    }
  });
});

describe('txn', () => {
  function compare(key: string, target: Compare['target'], op: Compare['op'], value: number | string | boolean): Compare {
    return { key, target, op, value } as Compare;
  }

  it('evaluates every target and operator, absent keys included', () => {
    const d = Driver.create();
    const { id } = d.grant(1000, 7);
    d.put('x', 'hello', { lease: id });
    d.put('x', 'world', { lease: id });
    d.put('y', 'other');
    // x: createRevision 1, modRevision 2, version 2, value 'world', lease 7.
    const holds = (c: Compare) => d.txn([c], []).succeeded;
    const cases: [Compare, boolean][] = [
      [compare('x', 'version', '=', 2), true],
      [compare('x', 'version', '!=', 2), false],
      [compare('x', 'version', '<', 3), true],
      [compare('x', 'version', '>', 2), false],
      [compare('x', 'createRevision', '=', 1), true],
      [compare('x', 'createRevision', '>', 0), true],
      [compare('x', 'modRevision', '=', 2), true],
      [compare('x', 'modRevision', '<', 2), false],
      [compare('x', 'value', '=', 'world'), true],
      [compare('x', 'value', '!=', 'world'), false],
      [compare('x', 'value', '<', 'zz'), true],
      [compare('x', 'value', '>', 'world'), false],
      [compare('x', 'lease', '=', 7), true],
      [compare('y', 'lease', '=', 0), true],
      [compare('x', 'exists', '=', true), true],
      [compare('x', 'exists', '!=', true), false],
      // An absent key: version, revisions and lease are 0; exists is false; value compares fail.
      [compare('nope', 'version', '=', 0), true],
      [compare('nope', 'createRevision', '=', 0), true],
      [compare('nope', 'modRevision', '<', 1), true],
      [compare('nope', 'lease', '=', 0), true],
      [compare('nope', 'exists', '=', false), true],
      [compare('nope', 'exists', '=', true), false],
      [compare('nope', 'exists', '!=', true), true],
      [compare('nope', 'value', '=', ''), false],
      [compare('nope', 'value', '!=', 'a'), false],
    ];
    for (const [c, expected] of cases) expect([c, holds(c)]).toEqual([c, expected]);
    // All compares must hold.
    expect(d.txn([compare('x', 'version', '=', 2), compare('y', 'version', '=', 2)], []).succeeded).toBe(false);
    expect(d.txn([], []).succeeded).toBe(true);
    expect(d.m.revision).toBe(3);
  });

  it('applies the chosen branch at one revision, seeing its own writes', () => {
    const d = Driver.create();
    d.put('lock/a', 'holder-a');
    const r = d.txn(
      [compare('lock/b', 'createRevision', '=', 0)],
      [
        { op: 'put', key: 'lock/b', value: 'holder-b' },
        { op: 'put', key: 'counter', value: '1' },
        { op: 'range', key: 'lock/', prefix: true, sortBy: 'createRevision', limit: 1 },
        { op: 'range', key: 'lock/', prefix: true, revision: 1 },
      ],
      [{ op: 'range', key: 'lock/b' }],
    );
    expect(r).toEqual({
      op: 'txn',
      revision: 2,
      succeeded: true,
      results: [
        { op: 'put', revision: 2 },
        { op: 'put', revision: 2 },
        { op: 'range', revision: 2, kvs: [kv('lock/a', 'holder-a', 1, 1, 1)], count: 2, more: true },
        { op: 'range', revision: 1, kvs: [kv('lock/a', 'holder-a', 1, 1, 1)], count: 1, more: false },
      ],
    });
    expect(d.get('counter')).toEqual(kv('counter', '1', 2, 2, 1));
    const again = d.txn([compare('lock/b', 'createRevision', '=', 0)], [{ op: 'put', key: 'lock/b', value: 'x' }], [
      { op: 'range', key: 'lock/b' },
    ]);
    expect(again).toEqual({
      op: 'txn',
      revision: 2,
      succeeded: false,
      results: [{ op: 'range', revision: 2, kvs: [kv('lock/b', 'holder-b', 2, 2, 1)], count: 1, more: false }],
    });
  });

  it('emits the events of a txn in op order at one revision', () => {
    const d = Driver.create();
    d.put('a', '1');
    const r = d.write({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'z', value: 'last' },
        { op: 'delete', key: 'a' },
        { op: 'put', key: 'm', value: 'mid' },
      ],
      failure: [],
    });
    expect(r.events).toEqual([
      { type: 'put', kv: kv('z', 'last', 2, 2, 1) },
      { type: 'delete', kv: kv('a', '', 0, 2, 0), prevKv: kv('a', '1', 1, 1, 1) },
      { type: 'put', kv: kv('m', 'mid', 2, 2, 1) },
    ]);
    const watched = d.m.watchFrom(2, { key: '', prefix: true, prevKv: true });
    expect(watched).toEqual({ ok: true, events: r.events, nextRevision: 3 });
  });

  it('does not bump the revision for read-only txns or branches that change nothing', () => {
    const d = Driver.create();
    d.put('a', '1');
    expect(d.txn([], [{ op: 'range', key: 'a' }]).revision).toBe(1);
    expect(d.txn([compare('a', 'version', '=', 5)], [{ op: 'put', key: 'a', value: '2' }], [{ op: 'delete', key: 'nope' }]))
      .toEqual({ op: 'txn', revision: 1, succeeded: false, results: [{ op: 'delete', revision: 1, deleted: 0 }] });
    expect(d.m.revision).toBe(1);
  });

  it('is atomic: an op that fails fails the whole txn, nothing applied, no revision bump', () => {
    const d = Driver.create();
    d.put('a', '1');
    const before = d.m.snapshot();
    const failures = [
      { ops: [{ op: 'put', key: 'b', value: '2' }, { op: 'put', key: 'c', value: '3', lease: 99 }], code: 'LEASE_NOT_FOUND' },
      { ops: [{ op: 'delete', key: 'a' }, { op: 'put', key: 'nope', value: '', ignoreValue: true }], code: 'KEY_NOT_FOUND' },
      { ops: [{ op: 'put', key: 'b', value: '2' }, { op: 'range', key: 'a', revision: 5 }], code: 'FUTURE_REVISION' },
    ] as const;
    for (const { ops, code } of failures) {
      const r = d.write({ op: 'txn', compare: [], success: [...ops], failure: [] });
      expect(r.ok ? r.result : r.error.code).toBe(code);
      expect(r.events).toEqual([]);
      expect(r.revision).toBe(1);
    }
    // Only the session changed, so compare the keys through a read.
    expect(KvStateMachine.restore(before).range({ key: '', prefix: true })).toEqual(d.m.range({ key: '', prefix: true }));
  });

  it('refuses, as etcd does, a branch that writes one key twice', () => {
    const d = Driver.create();
    const twice = d.fail({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'a', value: '1' },
        { op: 'put', key: 'a', value: '2' },
      ],
      failure: [],
    });
    expect(twice.code).toBe('INVALID');
    expect(twice.message).toMatch(/"a" is put twice/);
    const covered = d.fail({
      op: 'txn',
      compare: [],
      success: [],
      failure: [
        { op: 'delete', key: 'a', prefix: true },
        { op: 'put', key: 'ab', value: '1' },
      ],
    });
    expect(covered.message).toMatch(/both put and deleted/);
    // Overlapping deletes are fine.
    d.put('ab', '1');
    const deletes = d.txn([], [
      { op: 'delete', key: 'ab' },
      { op: 'delete', key: 'a', prefix: true },
    ]);
    expect(deletes.results).toEqual([
      { op: 'delete', revision: 2, deleted: 1 },
      { op: 'delete', revision: 2, deleted: 0 },
    ]);
  });
});

describe('leases', () => {
  it('grants with a deterministic id from the log index, or the id asked, refusing one in use', () => {
    const d = Driver.create();
    d.command({ type: 'noop' });
    d.command({ type: 'noop' });
    expect(d.grant(3000)).toEqual({ op: 'leaseGrant', id: 3, ttlMs: 3000 });
    expect(d.grant(1000, 4)).toEqual({ op: 'leaseGrant', id: 4, ttlMs: 1000 });
    // Index 5 is free, but never below a previous automatic id + 1 and never one in use.
    expect(d.grant(1000, 5).id).toBe(5);
    expect(d.grant(1000).id).toBe(6);
    expect(d.fail({ op: 'leaseGrant', ttlMs: 10, id: 4 })).toEqual({ code: 'LEASE_EXISTS', message: 'lease 4 already exists' });
    expect(d.m.revision).toBe(0);
    expect(d.m.leases().map((l) => l.id)).toEqual([3, 4, 5, 6]);
    expect(d.m.lease(4)).toEqual({ id: 4, ttlMs: 1000, keys: [] });
    expect(d.m.lease(40)).toBeUndefined();
  });

  it('attaches keys on put, detaches on a put without lease, on another lease, and on delete', () => {
    const d = Driver.create();
    const a = d.grant(1000, 1).id;
    const b = d.grant(1000, 2).id;
    d.put('k2', '', { lease: a });
    d.put('k1', '', { lease: a });
    d.put('k3', '', { lease: a });
    expect(d.m.lease(a)?.keys).toEqual(['k1', 'k2', 'k3']);
    d.put('k1', 'moved', { lease: b });
    d.put('k2', 'free');
    d.del('k3');
    expect(d.m.leases()).toEqual([
      { id: 1, ttlMs: 1000, keys: [] },
      { id: 2, ttlMs: 1000, keys: ['k1'] },
    ]);
    expect(d.fail({ op: 'put', key: 'k', value: '', lease: 3 })).toEqual({ code: 'LEASE_NOT_FOUND', message: 'lease 3 not found' });
  });

  it('revokes: deletes the attached keys at one revision, without the lease-expired cause', () => {
    const d = Driver.create();
    const id = d.grant(1000).id;
    d.put('b', '', { lease: id });
    d.put('a', '', { lease: id });
    d.put('c', '');
    const r = d.write({ op: 'leaseRevoke', id });
    expect(r.ok && r.result).toEqual({ op: 'leaseRevoke', revision: 4, deleted: 2 });
    expect(r.events.map((e) => [e.type, e.kv.key, e.kv.modRevision, e.cause])).toEqual([
      ['delete', 'a', 4, undefined],
      ['delete', 'b', 4, undefined],
    ]);
    expect(d.m.leases()).toEqual([]);
    expect(d.fail({ op: 'leaseRevoke', id }).code).toBe('LEASE_NOT_FOUND');
    // A lease without keys is revoked without a new revision.
    const empty = d.grant(10).id;
    expect(d.revoke(empty)).toEqual({ op: 'leaseRevoke', revision: 4, deleted: 0 });
  });

  it('expires through the log: leases and keys go at one revision, events say lease-expired', () => {
    const d = Driver.create();
    const a = d.grant(1000, 10).id;
    const b = d.grant(1000, 20).id;
    d.put('a1', 'x', { lease: a });
    d.put('b1', 'y', { lease: b });
    d.put('keep', 'z');
    const r = d.command({ type: 'leaseExpire', ids: [b, 99, a, b] });
    expect(r).toMatchObject({ ok: true, result: { op: 'leaseExpire', revision: 4, deleted: 2, expired: [20, 10] }, revision: 4 });
    expect(r.events).toEqual([
      { type: 'delete', kv: kv('b1', '', 0, 4, 0), prevKv: kv('b1', 'y', 2, 2, 1, 20), cause: 'lease-expired' },
      { type: 'delete', kv: kv('a1', '', 0, 4, 0), prevKv: kv('a1', 'x', 1, 1, 1, 10), cause: 'lease-expired' },
    ]);
    expect(d.m.leases()).toEqual([]);
    expect(d.m.size).toBe(1);
    // Watchers catching up see the cause too.
    const w = d.m.watchFrom(4, { key: 'a1' });
    expect(w.ok && w.events).toEqual([{ type: 'delete', kv: kv('a1', '', 0, 4, 0), cause: 'lease-expired' }]);
    expect(d.command({ type: 'leaseExpire', ids: [10] })).toMatchObject({ ok: true, result: { deleted: 0, expired: [] }, revision: 4 });
  });

  it('leaseEpoch moves with every grant, revoke and expiry, and only then; leaseTtls lists the table', () => {
    const d = Driver.create();
    const e0 = d.m.leaseEpoch;
    const a = d.grant(1000, 10).id;
    const b = d.grant(2000, 20).id;
    const e1 = d.m.leaseEpoch;
    expect(e1).toBe(e0 + 2);
    expect([...d.m.leaseTtls()].sort((x, y) => x[0] - y[0])).toEqual([[a, 1000], [b, 2000]]);
    // Keys coming and going on a lease, refused grants and unknown ids change nothing.
    d.put('k', 'v', { lease: a });
    d.write({ op: 'delete', key: 'k' });
    d.fail({ op: 'leaseGrant', ttlMs: 10, id: a });
    d.command({ type: 'leaseExpire', ids: [99] });
    expect(d.m.leaseEpoch).toBe(e1);
    d.revoke(a);
    expect(d.m.leaseEpoch).toBe(e1 + 1);
    d.command({ type: 'leaseExpire', ids: [b] });
    expect(d.m.leaseEpoch).toBe(e1 + 2);
    expect([...d.m.leaseTtls()]).toEqual([]);
  });

  it('deletes the keys of an expired lease in key order, whatever order they were attached in', () => {
    const d = Driver.create();
    const id = d.grant(1000).id;
    for (const k of ['c', 'a', 'b']) d.put(k, '', { lease: id });
    d.put('a', 'again', { lease: id });
    const r = d.command({ type: 'leaseExpire', ids: [id] });
    expect(r.events.map((e) => [e.kv.key, e.kv.modRevision, e.cause])).toEqual([
      ['a', 5, 'lease-expired'],
      ['b', 5, 'lease-expired'],
      ['c', 5, 'lease-expired'],
    ]);
  });
});

describe('watchFrom', () => {
  function history(): Driver {
    const d = Driver.create();
    d.put('a', '1'); // 1
    d.put('b', '1'); // 2
    d.put('a', '2'); // 3
    d.del('a'); // 4
    d.txn([], [
      { op: 'put', key: 'a/x', value: '' },
      { op: 'put', key: 'a/y', value: '' },
      { op: 'put', key: 'c', value: '' },
    ]); // 5
    d.put('a', '3'); // 6
    return d;
  }

  it('returns events on one key from a revision, with prevKv when asked', () => {
    const d = history();
    const w = d.m.watchFrom(2, { key: 'a', prevKv: true });
    expect(w).toEqual({
      ok: true,
      events: [
        { type: 'put', kv: kv('a', '2', 1, 3, 2), prevKv: kv('a', '1', 1, 1, 1) },
        { type: 'delete', kv: kv('a', '', 0, 4, 0), prevKv: kv('a', '2', 1, 3, 2) },
        { type: 'put', kv: kv('a', '3', 6, 6, 1) },
      ],
      nextRevision: 7,
    });
    expect(d.m.watchFrom(3, { key: 'a' }).ok && d.m.watchFrom(3, { key: 'a' })).toMatchObject({
      events: [{ type: 'put', kv: { modRevision: 3 } }, { type: 'delete' }, { type: 'put' }],
    });
  });

  it('returns events on a prefix in revision then op order, and pages with a soft limit', () => {
    const d = history();
    const all = d.m.watchFrom(1, { key: 'a', prefix: true });
    expect(all.ok && all.events.map((e) => `${e.kv.modRevision}:${e.type}:${e.kv.key}`)).toEqual([
      '1:put:a',
      '3:put:a',
      '4:delete:a',
      '5:put:a/x',
      '5:put:a/y',
      '6:put:a',
    ]);
    // limit 3 would split revision 5: the reply stops before it, then takes it whole.
    const page1 = d.m.watchFrom(1, { key: 'a', prefix: true }, 3);
    expect(page1.ok && [page1.events.length, page1.nextRevision]).toEqual([3, 5]);
    const page2 = d.m.watchFrom(5, { key: 'a', prefix: true }, 1);
    expect(page2.ok && [page2.events.map((e) => e.kv.key), page2.nextRevision]).toEqual([['a/x', 'a/y'], 6]);
    const single = d.m.watchFrom(1, { key: 'a' }, 2);
    expect(single.ok && [single.events.length, single.nextRevision]).toEqual([2, 4]);
  });

  it('watches from the next revision with 0 and returns nothing for future revisions', () => {
    const d = history();
    expect(d.m.watchFrom(0, { key: '', prefix: true })).toEqual({ ok: true, events: [], nextRevision: 7 });
    expect(d.m.watchFrom(20, { key: 'a' })).toEqual({ ok: true, events: [], nextRevision: 20 });
    expect(d.m.watchFrom(1, { key: 'nothing' })).toEqual({ ok: true, events: [], nextRevision: 7 });
  });

  it('gives, across applies, exactly the events apply returned', () => {
    const d = history();
    const fresh = Driver.create();
    const pushed = [];
    for (let i = 0; i < 20; i++) {
      const r = fresh.write(i % 3 === 2 ? { op: 'delete', key: `k${i % 4}` } : { op: 'put', key: `k${i % 4}`, value: `${i}` });
      pushed.push(...r.events);
    }
    const w = fresh.m.watchFrom(1, { key: '', prefix: true, prevKv: true });
    expect(w.ok && w.events).toEqual(pushed);
    expect(d.m.watchFrom(-1, { key: 'a' }).ok).toBe(false);
    expect(d.m.watchFrom(1, { key: '' }).ok).toBe(false);
  });

  it('leaves out puts with noPut, on one key and on a prefix', () => {
    const d = history();
    const one = d.m.watchFrom(1, { key: 'a', noPut: true });
    expect(one.ok && [one.events.map((e) => `${e.kv.modRevision}:${e.type}`), one.nextRevision]).toEqual([['4:delete'], 7]);
    const all = d.m.watchFrom(1, { key: '', prefix: true, noPut: true, prevKv: true });
    expect(all.ok && all.events.map((e) => `${e.kv.modRevision}:${e.type}:${e.kv.key}:${e.prevKv?.value}`)).toEqual(['4:delete:a:2']);
  });

  it('checks a filter object it saw before as well: its numbers every time, and a bad one never passes', () => {
    const d = history();
    const filter = { key: 'a' };
    expect(d.m.watchFrom(1, filter).ok).toBe(true);
    // The same (checked) object with bad numbers is still refused.
    expect(d.m.watchFrom(-1, filter)).toMatchObject({ ok: false, error: { code: 'INVALID' } });
    expect(d.m.watchFrom(1.5, filter).ok).toBe(false);
    expect(d.m.watchFrom(1, filter, 0).ok).toBe(false);
    expect(d.m.watchFrom(1, filter, 2)).toMatchObject({ ok: true, nextRevision: 4 });
    // A bad filter is refused every time it is asked with, not only the first.
    const bad = { key: '' };
    expect(d.m.watchFrom(1, bad).ok).toBe(false);
    expect(d.m.watchFrom(1, bad).ok).toBe(false);
  });
});

describe('compaction', () => {
  it('drops history at or below the revision, keeps current values, and refuses reads and watches there', () => {
    const d = Driver.create();
    d.put('a', '1'); // 1
    d.put('a', '2'); // 2
    d.put('b', '1'); // 3
    d.del('b'); // 4
    d.put('c', '1'); // 5
    const r = d.command({ type: 'compact', revision: 4 });
    expect(r).toEqual({ ok: true, result: { op: 'compact', revision: 5, compactRevision: 4 }, revision: 5, events: [] });
    expect(d.m.compactRevision).toBe(4);
    const err = { ok: false, error: { code: 'COMPACTED', message: expect.stringContaining('compact revision 4'), compactRevision: 4 } };
    expect(d.m.range({ key: 'a', revision: 4 })).toEqual(err);
    expect(d.m.range({ key: 'a', revision: 1 })).toEqual(err);
    expect(d.m.watchFrom(4, { key: 'a' })).toEqual(err);
    expect(d.m.watchFrom(2, { key: '', prefix: true })).toEqual(err);
    // Revision 5 still reads whole: a's version from revision 2 is kept.
    expect(range(d, { key: '', prefix: true, revision: 5 }).kvs).toEqual([kv('a', '2', 1, 2, 2), kv('c', '1', 5, 5, 1)]);
    expect(d.m.watchFrom(5, { key: '', prefix: true })).toMatchObject({ ok: true, events: [{ kv: { key: 'c' } }], nextRevision: 6 });
    expect(d.get('a')).toEqual(kv('a', '2', 1, 2, 2));
    // A txn read at a compacted revision fails the txn.
    const t = d.fail({ op: 'txn', compare: [], success: [{ op: 'range', key: 'a', revision: 3 }], failure: [] });
    expect(t.code).toBe('COMPACTED');
    // Compacting again at or below, or above the current revision, fails.
    expect(d.command({ type: 'compact', revision: 4 })).toMatchObject({ ok: false, error: { code: 'COMPACTED', compactRevision: 4 } });
    expect(d.command({ type: 'compact', revision: 6 })).toMatchObject({ ok: false, error: { code: 'FUTURE_REVISION', revision: 5 } });
    d.command({ type: 'compact', revision: 5 });
    expect(range(d, { key: '', prefix: true }).kvs.map((k) => k.key)).toEqual(['a', 'c']);
    expect(d.m.watchFrom(6, { key: '', prefix: true })).toEqual({ ok: true, events: [], nextRevision: 6 });
  });

  it('keeps a prevKv older than the compact revision for later events', () => {
    const d = Driver.create();
    d.put('a', '1'); // 1
    d.put('x', '1'); // 2
    d.command({ type: 'compact', revision: 2 });
    d.put('a', '2'); // 3
    const w = d.m.watchFrom(3, { key: 'a', prevKv: true });
    expect(w.ok && w.events).toEqual([{ type: 'put', kv: kv('a', '2', 1, 3, 2), prevKv: kv('a', '1', 1, 1, 1) }]);
  });
});
