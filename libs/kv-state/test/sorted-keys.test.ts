import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SortedKeys } from '../src/sorted-keys.js';

describe('SortedKeys', () => {
  it('behaves as a sorted array under random adds and deletes, across chunk splits', () => {
    const key = fc.stringMatching(/^[a-d]{0,4}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), key), { maxLength: 500, size: 'max' }), key, fc.boolean(), (ops, from, exclusive) => {
        // Chunks of at most 4 keys: splits and emptied chunks happen all the time.
        const s = new SortedKeys(4);
        const ref = new Set<string>();
        for (const [add, k] of ops) {
          const changed = add ? s.add(k) : s.delete(k);
          if (changed !== (add ? !ref.has(k) : ref.has(k))) throw new Error(`${add ? 'add' : 'delete'} ${k} said ${changed}`);
          if (add) ref.add(k);
          else ref.delete(k);
        }
        const sorted = [...ref].sort();
        expect([...s]).toEqual(sorted);
        expect(s.size).toBe(sorted.length);
        expect([...s.from(from, exclusive)]).toEqual(sorted.filter((k) => (exclusive ? k > from : k >= from)));
        for (const k of ['', 'a', 'abcd', 'zz']) expect(s.has(k)).toBe(ref.has(k));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps order over many keys (several chunks)', () => {
    const s = new SortedKeys();
    const keys = Array.from({ length: 5000 }, (_, i) => `k${(i * 7919) % 5000}`);
    for (const k of keys) s.add(k);
    for (const k of keys.slice(0, 2500)) s.delete(k);
    expect([...s]).toEqual(keys.slice(2500).sort());
    expect([...s.from('k4')].every((k) => k >= 'k4')).toBe(true);
  });
});
