import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LockEntry, LockMode } from '@synod/protocol';
import { decide, holdsAt, inArrivalOrder, lockKey, lockPrefix, parseLockKey, splitHolders } from '../src/ownership.js';

const e = (mode: LockMode, rev: number, permits?: number): LockEntry => ({
  key: lockKey('locks', 'n', mode, rev),
  mode,
  lease: rev,
  createRevision: rev,
  ...(permits === undefined ? {} : { permits }),
});

describe('lock keys', () => {
  it('round-trips <prefix>/<name>/<mode>/<lease> and rejects other shapes', () => {
    expect(lockKey('locks', 'a.b', 'read', 42)).toBe('locks/a.b/read/42');
    expect(parseLockKey(lockPrefix('locks', 'a.b'), 'locks/a.b/read/42')).toEqual({ mode: 'read', lease: 42 });
    expect(parseLockKey('locks/a/', 'locks/a/shared/1')).toBeUndefined();
    expect(parseLockKey('locks/a/', 'locks/a/mutex/01')).toBeUndefined();
    expect(parseLockKey('locks/a/', 'locks/a/mutex/1/x')).toBeUndefined();
    expect(parseLockKey('locks/a/', 'locks/ab/mutex/1')).toBeUndefined();
  });
});

describe('ownership decisions', () => {
  it('mutex: the lowest createRevision holds; each waiter watches exactly its predecessor', () => {
    const entries = [e('mutex', 30), e('mutex', 10), e('mutex', 20)];
    expect(decide(entries, e('mutex', 10).key)).toEqual({ kind: 'holder', position: 0 });
    expect(decide(entries, e('mutex', 20).key)).toMatchObject({ kind: 'wait', position: 1, watchKey: e('mutex', 10).key });
    expect(decide(entries, e('mutex', 30).key)).toMatchObject({ kind: 'wait', position: 2, watchKey: e('mutex', 20).key });
    expect(decide(entries, 'locks/n/mutex/99')).toEqual({ kind: 'missing' });
  });

  it('read-write: readers share until a writer; a writer needs to be first; readers watch the last writer ahead', () => {
    const entries = [e('read', 1), e('read', 2), e('write', 3), e('read', 4), e('read', 5), e('write', 6)];
    const { holders, waiters } = splitHolders(entries);
    expect(holders.map((h) => h.createRevision)).toEqual([1, 2]);
    expect(waiters.map((h) => h.createRevision)).toEqual([3, 4, 5, 6]);
    expect(decide(entries, e('read', 5).key)).toMatchObject({ kind: 'wait', watchKey: e('write', 3).key });
    expect(decide(entries, e('write', 3).key)).toMatchObject({ kind: 'wait', watchKey: e('read', 2).key });
    expect(decide([e('write', 1), e('read', 2)], e('write', 1).key)).toMatchObject({ kind: 'holder' });
  });

  it('semaphore: the first N hold; the others watch the whole name', () => {
    const entries = [1, 2, 3, 4, 5].map((r) => e('semaphore', r, 3));
    expect(splitHolders(entries).holders.map((h) => h.createRevision)).toEqual([1, 2, 3]);
    expect(decide(entries, e('semaphore', 4, 3).key)).toMatchObject({ kind: 'wait', watchKey: undefined, ahead: [1, 2, 3].map((r) => e('semaphore', r).key) });
  });

  it('any mix of modes: holders are all readers, or up to N semaphore holders, or one exclusive holder (property)', () => {
    const mode = fc.constantFrom<LockMode>('mutex', 'read', 'write', 'semaphore');
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 0, maxLength: 12 }), fc.array(mode, { minLength: 12, maxLength: 12 }), fc.integer({ min: 1, max: 4 }), (revs, modes, permits) => {
        const entries = revs.map((r, i) => e(modes[i]!, r, modes[i] === 'semaphore' ? permits : undefined));
        const { holders } = splitHolders(entries);
        const ordered = inArrivalOrder(entries);
        if (entries.length > 0) expect(holders.length).toBeGreaterThan(0); // someone always holds: no deadlock
        if (holders.length > 0) expect(holders[0]).toEqual(ordered[0]); // the first to arrive always holds
        const modesHeld = new Set(holders.map((h) => h.mode));
        if (modesHeld.has('mutex') || modesHeld.has('write')) expect(holders).toHaveLength(1);
        if (modesHeld.has('read')) expect([...modesHeld]).toEqual(['read']);
        if (modesHeld.has('semaphore')) {
          expect([...modesHeld]).toEqual(['semaphore']);
          expect(holders.length).toBeLessThanOrEqual(permits);
        }
        // Every waiter watches a key that arrived before it (FIFO, no herd for exclusive modes).
        ordered.forEach((w, i) => {
          const d = decide(entries, w.key);
          expect(d.kind === 'holder').toBe(holdsAt(ordered, i));
          if (d.kind === 'wait' && d.watchKey !== undefined) expect(d.ahead).toContain(d.watchKey);
        });
      }),
    );
  });
});
