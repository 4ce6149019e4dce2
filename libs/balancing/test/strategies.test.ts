import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@synod/testkit';
import {
  RandomStrategy,
  RoundRobinStrategy,
  WeightedRoundRobinStrategy,
  createStrategy,
  isStrategyName,
  STRATEGY_NAMES,
  type Member,
} from '../src/index.js';

const members = (weights: number[]): Member[] => weights.map((weight, i) => ({ id: `m${i}`, weight }));
const picks = (s: { pick(m: readonly Member[]): Member | undefined }, ms: Member[], n: number): string[] =>
  Array.from({ length: n }, () => s.pick(ms)?.id ?? '-');

describe('smooth weighted round-robin', () => {
  it('gives a a b a c a a for weights 5,1,1 in every cycle', () => {
    const s = new WeightedRoundRobinStrategy();
    const ms = [
      { id: 'a', weight: 5 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: 1 },
    ];
    const seq = picks(s, ms, 70);
    for (let cycle = 0; cycle < 10; cycle++) {
      expect(seq.slice(cycle * 7, cycle * 7 + 7).join(' ')).toBe('a a b a c a a');
    }
  });

  it('gives exact shares in every cycle of sum(weights) picks (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 4 }), (weights, cycles) => {
        const s = new WeightedRoundRobinStrategy();
        const ms = members(weights);
        const total = weights.reduce((a, b) => a + b, 0);
        for (let c = 0; c < cycles; c++) {
          const counts = new Map<string, number>();
          for (const id of picks(s, ms, total)) counts.set(id, (counts.get(id) ?? 0) + 1);
          ms.forEach((m) => expect(counts.get(m.id) ?? 0).toBe(m.weight));
        }
      }),
    );
  });

  it('never picks weight 0 and returns undefined when nobody is eligible', () => {
    const s = new WeightedRoundRobinStrategy();
    expect(picks(s, members([0, 3, 0]), 9)).toEqual(Array(9).fill('m1'));
    expect(s.pick(members([0, 0]))).toBeUndefined();
    expect(s.pick([])).toBeUndefined();
  });

  it('gives exact shares from the first cycle after members join, leave or change weight (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 30 }),
        (before, after, warm) => {
          const s = new WeightedRoundRobinStrategy();
          picks(s, members(before), warm);
          // Another membership: some ids stay (maybe with new weights), some leave, some join.
          const ms = after.map((w, i) => ({ id: `m${i + 2}`, weight: w }));
          const total = after.reduce((a, b) => a + b, 0);
          for (let cycle = 0; cycle < 3; cycle++) {
            const seq = picks(s, ms, total);
            for (const m of ms) expect(seq.filter((id) => id === m.id).length).toBe(m.weight);
          }
        },
      ),
    );
  });
});

describe('round-robin', () => {
  it('rotates strictly: every window of N picks holds each member once (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 50 }), (n, len) => {
        const s = new RoundRobinStrategy();
        const ms = members(Array(n).fill(1));
        const seq = picks(s, ms, len + n);
        for (let i = 0; i + n <= seq.length; i++) {
          expect(new Set(seq.slice(i, i + n)).size).toBe(n);
        }
      }),
    );
  });

  it('ignores weights', () => {
    expect(picks(new RoundRobinStrategy(), members([5, 1, 1]), 6)).toEqual(['m0', 'm1', 'm2', 'm0', 'm1', 'm2']);
  });

  it('continues after the member that left, and includes a member that joined', () => {
    const s = new RoundRobinStrategy();
    const abc = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: 1 },
    ];
    expect(picks(s, abc, 2)).toEqual(['a', 'b']);
    const ac = abc.filter((m) => m.id !== 'b');
    expect(picks(s, ac, 3)).toEqual(['c', 'a', 'c']);
    const acd = [...ac, { id: 'd', weight: 1 }];
    expect(picks(s, acd, 3)).toEqual(['d', 'a', 'c']);
  });

  it('only ever returns current members and never repeats while others wait (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 20 }), (memberships) => {
        const s = new RoundRobinStrategy();
        let prev: string | undefined;
        for (const ids of memberships) {
          const ms = ids.map((i) => ({ id: `m${i}`, weight: 1 }));
          const got = s.pick(ms)!;
          expect(ms).toContain(got);
          if (ms.length > 1) expect(got.id).not.toBe(prev);
          prev = got.id;
        }
      }),
    );
  });
});

describe('random', () => {
  it('replays exactly from the same seed', () => {
    const ms = members([1, 1, 1, 1]);
    expect(picks(new RandomStrategy(seededRandom(42)), ms, 50)).toEqual(picks(new RandomStrategy(seededRandom(42)), ms, 50));
    expect(picks(new RandomStrategy(seededRandom(42)), ms, 50)).not.toEqual(picks(new RandomStrategy(seededRandom(43)), ms, 50));
  });

  it('is uniform within bounds (chi-square over 40k picks, for several seeds)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = new RandomStrategy(seededRandom(seed));
      const ms = members(Array(8).fill(1));
      const n = 40_000;
      const counts = new Map<string, number>();
      for (const id of picks(s, ms, n)) counts.set(id, (counts.get(id) ?? 0) + 1);
      const expected = n / ms.length;
      const chi2 = ms.reduce((acc, m) => acc + ((counts.get(m.id) ?? 0) - expected) ** 2 / expected, 0);
      // 7 degrees of freedom: p = 0.001 at 24.32.
      expect(chi2).toBeLessThan(24.32);
    }
  });

  it('stays within bounds for edge values of the random source', () => {
    const ms = members([1, 1, 1]);
    expect(new RandomStrategy(() => 0).pick(ms)?.id).toBe('m0');
    expect(new RandomStrategy(() => 0.9999999999999999).pick(ms)?.id).toBe('m2');
    expect(new RandomStrategy(() => 0.5).pick([])).toBeUndefined();
  });

  it('only returns current members as they join and leave (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { maxLength: 10 }), { minLength: 1, maxLength: 30 }), (seed, memberships) => {
        const s = new RandomStrategy(seededRandom(seed));
        for (const ids of memberships) {
          const ms = ids.map((i) => ({ id: `m${i}`, weight: 1 }));
          const got = s.pick(ms);
          if (ms.length === 0) expect(got).toBeUndefined();
          else expect(ms).toContain(got);
        }
      }),
    );
  });
});

describe('the strategy table', () => {
  it('builds every named strategy, a fresh instance each time', () => {
    for (const name of STRATEGY_NAMES) {
      const s = createStrategy(name, { random: Math.random });
      expect(s.name).toBe(name);
      expect(createStrategy(name, { random: Math.random })).not.toBe(s);
    }
  });

  it('knows exactly its own names (not an inherited property)', () => {
    expect(STRATEGY_NAMES).toEqual(['random', 'round-robin', 'weighted', 'least-outstanding', 'p2c-ewma', 'consistent-hash']);
    for (const name of STRATEGY_NAMES) expect(isStrategyName(name)).toBe(true);
    for (const name of ['__proto__', 'constructor', 'toString', 'fastest', '']) expect(isStrategyName(name)).toBe(false);
  });
});
