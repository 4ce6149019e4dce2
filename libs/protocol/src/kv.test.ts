import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  StoreRequest,
  watchInboxAllowed,
  Compare,
  DeleteResult,
  KeyValue,
  KV_ERROR_CODES,
  KvError,
  KvWriteOp,
  KvWriteResult,
  MAX_KEY_LENGTH,
  MAX_RANGE_LIMIT,
  MAX_TXN_OPS,
  MAX_VALUE_LENGTH,
  RangeRequest,
  RangeResult,
  Txn,
  TxnResult,
  WatchEvent,
  WatchFilter,
  txnBranchConflict,
} from './index.js';

const kv = { key: 'a', value: 'v', createRevision: 1, modRevision: 2, version: 2, lease: 0 };

/** The readable message zod gives for a failed parse. */
function problem(schema: z.ZodType, input: unknown): string {
  const r = schema.safeParse(input);
  if (r.success) throw new Error(`expected ${JSON.stringify(input)} to fail`);
  return z.prettifyError(r.error);
}

describe('kv schemas: valid samples parse', () => {
  it.each([
    ['put', { op: 'put', key: 'k', value: '' }],
    ['put with everything', { op: 'put', key: 'k', value: 'v', lease: 7, prevKv: true }],
    ['put keeping value and lease', { op: 'put', key: 'k', value: '', ignoreValue: true, ignoreLease: true }],
    ['delete', { op: 'delete', key: 'k', prevKv: true }],
    ['delete everything', { op: 'delete', key: '', prefix: true }],
    [
      'txn',
      {
        op: 'txn',
        compare: [
          { key: 'k', target: 'version', op: '>', value: 0 },
          { key: 'k', target: 'value', op: '!=', value: 'x' },
          { key: 'k', target: 'exists', op: '=', value: true },
          { key: 'k', target: 'lease', op: '=', value: 0 },
        ],
        success: [
          { op: 'put', key: 'k', value: 'v' },
          { op: 'range', key: 'p/', prefix: true, sortBy: 'createRevision', order: 'desc', limit: 1 },
        ],
        failure: [{ op: 'range', key: 'k', revision: 3, keysOnly: true }],
      },
    ],
    ['lease grant', { op: 'leaseGrant', ttlMs: 5000 }],
    ['lease grant with id', { op: 'leaseGrant', ttlMs: 1, id: 42 }],
    ['lease revoke', { op: 'leaseRevoke', id: 42 }],
  ])('%s', (_what, op) => {
    expect(KvWriteOp.parse(op)).toEqual(op);
  });

  it('parses reads, results, events and errors', () => {
    expect(RangeRequest.parse({ key: '', prefix: true, limit: MAX_RANGE_LIMIT, after: 'm', countOnly: true })).toBeTruthy();
    expect(KeyValue.parse(kv)).toEqual(kv);
    expect(RangeResult.parse({ revision: 2, kvs: [kv], count: 3, more: true })).toBeTruthy();
    expect(DeleteResult.parse({ revision: 3, deleted: 1, prevKvs: [kv] })).toBeTruthy();
    expect(
      TxnResult.parse({
        revision: 3,
        succeeded: true,
        results: [
          { op: 'put', revision: 3, prevKv: kv },
          { op: 'delete', revision: 3, deleted: 0 },
          { op: 'range', revision: 3, kvs: [], count: 0, more: false },
        ],
      }),
    ).toBeTruthy();
    expect(KvWriteResult.parse({ op: 'leaseGrant', id: 9, ttlMs: 100 })).toEqual({ op: 'leaseGrant', id: 9, ttlMs: 100 });
    const del = { type: 'delete', kv: { ...kv, value: '', version: 0, createRevision: 0, modRevision: 5 }, prevKv: kv, cause: 'lease-expired' };
    expect(WatchEvent.parse(del)).toEqual(del);
    const headed = { ...del, first: { key: 'k2', createRevision: 3 } };
    expect(WatchEvent.parse(headed)).toEqual(headed);
    expect(WatchEvent.parse({ ...del, first: null })).toEqual({ ...del, first: null });
    expect(WatchEvent.safeParse({ ...del, first: { key: 'k2' } }).success).toBe(false);
    expect(WatchFilter.parse({ key: 'a', prefix: true, prevKv: true })).toBeTruthy();
    for (const code of KV_ERROR_CODES) expect(KvError.parse({ code, message: 'm' }).code).toBe(code);
    expect(KvError.parse({ code: 'COMPACTED', message: 'm', compactRevision: 4 })).toBeTruthy();
  });

  it('accepts the largest key and value', () => {
    expect(KvWriteOp.safeParse({ op: 'put', key: 'k'.repeat(MAX_KEY_LENGTH), value: 'v'.repeat(MAX_VALUE_LENGTH) }).success).toBe(true);
  });
});

describe('kv schemas: garbage fails with readable messages', () => {
  it.each([
    ['empty key', { op: 'put', key: '', value: 'v' }, 'key must not be empty'],
    ['oversized key', { op: 'put', key: 'k'.repeat(MAX_KEY_LENGTH + 1), value: '' }, 'key must be at most 4096 characters'],
    ['oversized value', { op: 'put', key: 'k', value: 'v'.repeat(MAX_VALUE_LENGTH + 1) }, 'value must be at most 524288 characters'],
    ['number value', { op: 'put', key: 'k', value: 5 }, 'value must be a string'],
    ['fractional lease', { op: 'put', key: 'k', value: '', lease: 1.5 }, 'lease must be an integer'],
    ['negative lease', { op: 'put', key: 'k', value: '', lease: -1 }, 'lease must not be negative'],
    ['value with ignoreValue', { op: 'put', key: 'k', value: 'v', ignoreValue: true }, 'value must be empty when ignoreValue is true'],
    ['lease with ignoreLease', { op: 'put', key: 'k', value: '', lease: 3, ignoreLease: true }, 'lease must be absent or 0'],
    ['empty key without prefix', { op: 'delete', key: '' }, 'key must not be empty unless prefix is true'],
    ['unknown op', { op: 'explode', key: 'k' }, 'Invalid discriminator value'],
    ['zero ttl', { op: 'leaseGrant', ttlMs: 0 }, 'ttlMs must be positive'],
    ['lease id 0', { op: 'leaseRevoke', id: 0 }, 'lease id must be positive'],
    ['string lease id', { op: 'leaseRevoke', id: '5' }, 'lease id must be an integer'],
  ])('%s', (_what, input, message) => {
    expect(problem(KvWriteOp, input)).toContain(message);
  });

  it('checks txn compares, sizes and branches', () => {
    const txn = (t: object) => ({ op: 'txn', compare: [], success: [], failure: [], ...t });
    expect(problem(Compare, { key: 'k', target: 'version', op: '=', value: 'one' })).toContain('value must be an integer for this target');
    expect(problem(Compare, { key: 'k', target: 'exists', op: '<', value: true })).toContain('exists compares only with = or !=');
    expect(problem(Compare, { key: 'k', target: 'exists', op: '=', value: 1 })).toContain('value must be a boolean for exists');
    expect(problem(Compare, { key: 'k', target: 'value', op: '=', value: 3 })).toContain('value must be a string');
    expect(problem(Compare, { key: 'k', target: 'color', op: '=', value: 3 })).toContain('Invalid discriminator value');
    const put = { op: 'put', key: 'k', value: '' };
    expect(problem(KvWriteOp, txn({ success: Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({ ...put, key: `k${i}` })) }))).toContain(
      'a txn branch holds at most 128 operations',
    );
    expect(problem(KvWriteOp, txn({ compare: Array(129).fill({ key: 'k', target: 'version', op: '=', value: 0 }) }))).toContain(
      'a txn holds at most 128 compares',
    );
    expect(problem(KvWriteOp, txn({ failure: [{ op: 'leaseGrant', ttlMs: 5 }] }))).toContain('Invalid discriminator value');
    expect(problem(Txn, { compare: [], success: [put, put], failure: [] })).toContain('"k" is put twice in one txn branch');
    expect(problem(Txn, { compare: [], success: [], failure: [{ op: 'delete', key: 'k' }, put] })).toContain('both put and deleted');
  });

  it('checks reads', () => {
    expect(problem(RangeRequest, { key: 'k', limit: MAX_RANGE_LIMIT + 1 })).toContain('limit must be at most 10000');
    expect(problem(RangeRequest, { key: 'k', revision: -1 })).toContain('revision must not be negative');
    expect(problem(RangeRequest, { key: 'k', sortBy: 'value' })).toContain('sortBy');
    expect(problem(RangeRequest, { key: '' })).toContain('key must not be empty unless prefix is true');
    expect(problem(WatchFilter, { key: '', prefix: false })).toContain('key must not be empty unless prefix is true');
    expect(problem(KeyValue, { ...kv, version: -1 })).toContain('version');
    expect(problem(KvError, { code: 'NOPE', message: '' })).toContain('code');
  });
});

describe('txnBranchConflict', () => {
  it('allows disjoint writes and overlapping deletes, refuses writing a key twice', () => {
    expect(txnBranchConflict([])).toBeUndefined();
    expect(
      txnBranchConflict([
        { op: 'put', key: 'a', value: '' },
        { op: 'put', key: 'b', value: '' },
        { op: 'delete', key: 'c', prefix: true },
        { op: 'delete', key: 'c1' },
        { op: 'range', key: 'a' },
      ]),
    ).toBeUndefined();
    expect(txnBranchConflict([{ op: 'delete', key: 'a', prefix: true }, { op: 'put', key: 'ab', value: '' }])).toMatch(/both put and deleted/);
    expect(txnBranchConflict([{ op: 'put', key: 'ab', value: '' }, { op: 'delete', key: 'ab' }])).toMatch(/both put and deleted/);
    expect(txnBranchConflict([{ op: 'put', key: 'ab', value: '' }, { op: 'delete', key: 'abc', prefix: true }])).toBeUndefined();
  });
});

describe('store requests', () => {
  it('refuse a write session that acknowledges the request it is sending', () => {
    const write = (session: object) => ({ type: 'write', session, op: { op: 'put', key: 'k', value: 'v' } });
    expect(StoreRequest.safeParse(write({ clientId: 'c', seq: 3, ackBelow: 3 })).success).toBe(true);
    expect(problem(StoreRequest, write({ clientId: 'c', seq: 3, ackBelow: 4 }))).toContain('ackBelow must not be above seq');
  });
});

describe('watch inbox', () => {
  const watch = (inbox: unknown) => StoreRequest.safeParse({ type: 'watch', watchId: 'w1', inbox, filter: { key: 'a' } });

  it.each(['_INBOX.abc', '_INBOX.synodctl.x1y2.3', 'billing.replies.7'])('accepts the literal subject %s', (inbox) => {
    expect(watch(inbox).success).toBe(true);
  });

  it.each([
    ['a wildcard token', '_INBOX.*'],
    ['a full wildcard', '_INBOX.>'],
    ['a wildcard inside', '_INBOX.a.>'],
    ['an empty token', '_INBOX..a'],
    ['a trailing dot', '_INBOX.a.'],
    ['a space', '_INBOX.a b'],
    ['a non-ASCII character', '_INBOX.ä'],
    ['nothing', ''],
    ['too long a subject', `_INBOX.${'x'.repeat(300)}`],
    ['a number', 7],
  ])('refuses %s, naming the field', (_what, inbox) => {
    const r = watch(inbox);
    expect(r.success).toBe(false);
    if (!r.success) expect(z.prettifyError(r.error)).toContain('inbox');
  });

  it('lies under _INBOX. or a configured prefix only', () => {
    expect(watchInboxAllowed('_INBOX.abc')).toBe(true);
    expect(watchInboxAllowed('_INBOX.gateway.abc.1')).toBe(true);
    expect(watchInboxAllowed('_INBOX')).toBe(false);
    expect(watchInboxAllowed('_INBOXES.abc')).toBe(false);
    expect(watchInboxAllowed('synod.peer.n2')).toBe(false);
    expect(watchInboxAllowed('synod.kv.leader')).toBe(false);
    expect(watchInboxAllowed('billing.replies.7')).toBe(false);
    expect(watchInboxAllowed('billing.replies.7', ['billing.replies'])).toBe(true);
    expect(watchInboxAllowed('billing.repliesX.7', ['billing.replies'])).toBe(false);
  });
});
