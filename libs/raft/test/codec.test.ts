import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState, type Entry } from '../src/index.js';

describe('record codec', () => {
  it('round-trips entries (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom<Entry['type']>('normal', 'noop', 'membership'),
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        (index, term, type, data, withMembership) => {
          const e: Entry = { index, term, type, data };
          if (withMembership) e.membership = { voters: ['a', 'b'], learners: ['c'] };
          expect(decodeEntry(encodeEntry(e))).toEqual(e);
        },
      ),
    );
  });

  it('refuses garbage records with a typed error', () => {
    const good = encodeEntry({ index: 3, term: 2, type: 'normal', data: new Uint8Array([1, 2, 3]) });
    expect(() => decodeEntry(good.subarray(0, 10))).toThrow(/too short/);
    expect(() => decodeEntry(good.subarray(0, good.length - 1))).toThrow(/data length/);
    const badType = good.slice();
    badType[0] = 9;
    expect(() => decodeEntry(badType)).toThrow(expect.objectContaining({ code: 'RAFT_RECORD_INVALID' }));
  });

  it('round-trips hard state, an absent vote included', () => {
    expect(decodeHardState(encodeHardState({ term: 4, vote: 'b', commit: 9 }))).toEqual({ term: 4, vote: 'b', commit: 9 });
    expect(decodeHardState(encodeHardState({ term: 4, vote: undefined, commit: 0 }))).toEqual({ term: 4, vote: undefined, commit: 0 });
    expect(() => decodeHardState(new TextEncoder().encode('{"term":"x"}'))).toThrow(/invalid hard state/);
  });
});
