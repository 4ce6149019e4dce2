import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConsistentHashStrategy, hash32, type Member } from '../src/index.js';

const ids = (n: number, from = 0): Member[] => Array.from({ length: n }, (_, i) => ({ id: `w${i + from}`, weight: 1 }));
const keys = (n: number, salt: number): string[] => Array.from({ length: n }, (_, i) => `key-${salt}-${i}`);
const assign = (s: ConsistentHashStrategy, ms: readonly Member[], ks: string[]): Map<string, string> =>
  new Map(ks.map((k) => [k, s.pick(ms, { key: k })!.id]));

describe('hash32', () => {
  it('is deterministic and spreads nearby strings', () => {
    expect(hash32('abc')).toBe(hash32('abc'));
    expect(hash32('key-1')).not.toBe(hash32('key-2'));
    expect(hash32('')).toBeGreaterThanOrEqual(0);
  });
});

describe('consistent hashing (weighted rendezvous)', () => {
  it('sends a key to the same member every time, whatever the member order', () => {
    const s = new ConsistentHashStrategy();
    const ms = ids(5);
    const first = assign(s, ms, keys(200, 1));
    expect(assign(s, [...ms].reverse(), keys(200, 1))).toEqual(first);
    expect(assign(new ConsistentHashStrategy(), ms, keys(200, 1))).toEqual(first);
  });

  it('spreads keys evenly over members', () => {
    const s = new ConsistentHashStrategy();
    const ms = ids(8);
    const counts = new Map<string, number>();
    for (const id of assign(s, ms, keys(16_000, 2)).values()) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const m of ms) expect(Math.abs((counts.get(m.id) ?? 0) - 2000)).toBeLessThan(300);
  });

  it('follows weights: a member of weight 3 holds about 3 times the keys', () => {
    const s = new ConsistentHashStrategy();
    const ms = [
      { id: 'a', weight: 3 },
      { id: 'b', weight: 1 },
    ];
    const n = 8000;
    const a = [...assign(s, ms, keys(n, 3)).values()].filter((id) => id === 'a').length;
    expect(a / n).toBeGreaterThan(0.71);
    expect(a / n).toBeLessThan(0.79);
  });

  it('moves only the keys the joining member takes, about 1/N of them (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 1_000_000 }), (n, salt) => {
        const s = new ConsistentHashStrategy();
        const ks = keys(2000, salt);
        const before = assign(s, ids(n), ks);
        const after = assign(s, ids(n + 1), ks);
        let moved = 0;
        for (const k of ks) {
          if (before.get(k) !== after.get(k)) {
            moved++;
            // A key only ever moves to the newcomer.
            expect(after.get(k)).toBe(`w${n}`);
          }
        }
        const expected = ks.length / (n + 1);
        expect(Math.abs(moved - expected)).toBeLessThan(5 * Math.sqrt(expected) + 10);
      }),
      { numRuns: 40 },
    );
  });

  it('moves only the leaving member’s keys, spread over the others (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 0, max: 1_000_000 }), (n, salt) => {
        const s = new ConsistentHashStrategy();
        const ks = keys(2000, salt);
        const all = ids(n);
        const leaver = all[salt % n]!;
        const before = assign(s, all, ks);
        const after = assign(
          s,
          all.filter((m) => m !== leaver),
          ks,
        );
        for (const k of ks) {
          if (before.get(k) !== leaver.id) expect(after.get(k)).toBe(before.get(k));
          else expect(after.get(k)).not.toBe(leaver.id);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('rotates requests without a key and never picks weight 0', () => {
    const s = new ConsistentHashStrategy();
    const ms = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 0 },
      { id: 'c', weight: 1 },
    ];
    expect(Array.from({ length: 4 }, () => s.pick(ms)!.id)).toEqual(['a', 'c', 'a', 'c']);
    for (const k of keys(100, 4)) expect(s.pick(ms, { key: k })!.id).not.toBe('b');
    expect(s.pick([], { key: 'x' })).toBeUndefined();
    expect(s.pick([{ id: 'z', weight: 0 }])).toBeUndefined();
  });
});
