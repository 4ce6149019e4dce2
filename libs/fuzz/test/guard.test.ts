import { describe, expect, it } from 'vitest';
import { unsafeToSend } from '../src/guard.js';
import { context } from './fixtures.js';

const ctx = context();
const write = (op: unknown) => ({ type: 'write', session: { clientId: 'c', seq: 1 }, op });

describe('the fixtures are never undone by a mutation', () => {
  it.each([
    [write({ op: 'delete', key: '', prefix: true }), /delete of a fixture key/],
    [write({ op: 'delete', key: 'lo', prefix: true }), /delete of a fixture key/],
    [write({ op: 'delete', key: 'fuzz-ack/3' }), /delete of a fixture key/],
    [write({ op: 'put', key: 'fuzz-big/01', value: 'small' }), /put of a fixture key/],
    [write({ op: 'txn', compare: [], success: [{ op: 'delete', key: 'objects/', prefix: true }], failure: [] }), /delete of a fixture key/],
    [write({ op: 'leaseRevoke', id: ctx.lock.heldLease }), /revoke of a fixture lease/],
    [{ type: 'compact', revision: 30 }, /compaction/],
    [{ type: 'member', change: { type: 'remove', node: 'n2' } }, /membership change/],
    [{ type: 'transfer' }, /leadership transfer/],
    [{ type: 'release', name: 'fuzz-held', lease: ctx.lock.heldLease, token: 1 }, /release of the held lock/],
    [{ type: 'cancel', name: 'fuzz-held', lease: ctx.lock.heldLease }, /cancel of the held lock/],
    [{ type: 'revoke', lease: ctx.lock.ownLease }, /revoke of a fixture lease/],
    [{ type: 'cas', key: 'fuzz-cas', expectedVersion: 1, value: 'x' }, /compare-and-set/],
  ])('%j is held back', (body, reason) => {
    expect(unsafeToSend(body, ctx)).toMatch(reason);
  });

  it.each([
    write({ op: 'delete', key: 'fuzz/d', prefix: true }),
    write({ op: 'put', key: 'fuzz/k', value: 'v' }),
    { type: 'compact', revision: 3 },
    { type: 'compact', revision: 10_000_000 },
    { type: 'member', change: { type: 'remove', node: 'zz' } },
    { type: 'transfer', to: 'zz1' },
    { type: 'release', name: 'fuzz-held', lease: ctx.lock.ownLease, token: 1 },
    { type: 'range', request: { key: '', prefix: true } },
    'not an object',
  ])('%j may go', (body) => {
    expect(unsafeToSend(body, ctx)).toBeUndefined();
  });
});

describe('the guard itself', () => {
  it('walks a body nested 200,000 deep without overflowing the stack', () => {
    const nested = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
    expect(unsafeToSend(nested, ctx)).toBeUndefined();
    expect(unsafeToSend({ type: 'write', op: { op: 'delete', key: '', prefix: true }, pad: nested }, ctx)).toMatch(/delete of a fixture key/);
  });
});
