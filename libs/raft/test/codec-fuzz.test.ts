import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, decodeEntry, decodeHardState, encodeEntry, encodeHardState, type Entry, type HardState } from '../src/index.js';

/**
 * Fuzz of the WAL record codec: records round-trip; any bytes, and any damage to a valid record,
 * are refused with CodecError or decode to a record that round-trips (a CRC-valid record that does
 * not decode must stop a replica's start with a typed error, not a SyntaxError or a TypeError).
 */

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const num = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), term: num, type: fc.constantFrom('normal' as const, 'noop' as const), data: fc.uint8Array({ maxLength: 48 }) }),
  fc.record({
    index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    term: num,
    type: fc.constant('membership' as const),
    data: fc.uint8Array({ maxLength: 48 }),
    membership: fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) }),
  }),
);
const hardState: fc.Arbitrary<HardState> = fc.record({ term: num, vote: fc.option(id, { nil: undefined }), commit: num });

function decodeOrRefuse<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError);
    return undefined;
  }
}

const damage = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), cut: fc.boolean() });
const damaged = (b: Uint8Array, d: { at: number; byte: number; cut: boolean }): Uint8Array => {
  if (b.length === 0) return b;
  if (d.cut) return b.subarray(0, d.at % b.length);
  const out = b.slice();
  out[d.at % out.length] = d.byte;
  return out;
};
const enc = new TextEncoder();
/** JSON that is not a record: other shapes, wrong types, broken text. */
const jsonish = fc.oneof(fc.json().map((j) => enc.encode(j)), fc.constantFrom('', '{', 'null', '[]', '{"term":"x"}', '{"term":1,"commit":2,"vote":7}', '{"voters":1}').map((s) => enc.encode(s)));

describe('Raft WAL record codec (fuzz)', () => {
  it('entries and hard states round-trip', () => {
    fc.assert(
      fc.property(entry, hardState, (e, h) => {
        expect(decodeEntry(encodeEntry(e))).toEqual(e);
        expect(decodeHardState(encodeHardState(h))).toEqual(h);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses random bytes and stray JSON with CodecError only', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), jsonish), (b) => {
        const e = decodeOrRefuse(decodeEntry, b);
        if (e) expect(decodeEntry(encodeEntry(e))).toEqual(e);
        const h = decodeOrRefuse(decodeHardState, b);
        if (h) expect(decodeHardState(encodeHardState(h))).toEqual(h);
      }),
      { numRuns: 1000 },
    );
  });

  it('a damaged entry (its membership JSON included) is refused or decodes to one that round-trips', () => {
    fc.assert(
      fc.property(entry, fc.array(damage, { minLength: 1, maxLength: 3 }), (e, ds) => {
        const d = decodeOrRefuse(decodeEntry, ds.reduce(damaged, encodeEntry(e)));
        if (d) expect(decodeEntry(encodeEntry(d))).toEqual(d);
      }),
      { numRuns: 1000 },
    );
  });

  it('a damaged hard state is refused or decodes to one that round-trips', () => {
    fc.assert(
      fc.property(hardState, fc.array(damage, { minLength: 1, maxLength: 3 }), (h, ds) => {
        const d = decodeOrRefuse(decodeHardState, ds.reduce(damaged, encodeHardState(h)));
        if (d) expect(decodeHardState(encodeHardState(d))).toEqual(d);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Raft WAL record codec: what the fuzz found', () => {
  it('a membership entry whose JSON is damaged is refused with CodecError (was a SyntaxError)', () => {
    const good = encodeEntry({ index: 1, term: 0, type: 'membership', data: new Uint8Array(0), membership: { voters: [], learners: [] } });
    const bad = good.slice();
    bad[21] = 0; // the first byte of the membership JSON
    expect(() => decodeEntry(bad)).toThrow(CodecError);
    const notMembership = encodeEntry({ index: 1, term: 0, type: 'membership', data: new Uint8Array(0), membership: { voters: 'n1' as unknown as string[], learners: [] } });
    expect(() => decodeEntry(notMembership)).toThrow(/not \{ voters, learners \}/);
  });

  it.each(['', 'null', '7', '{"term":1,"commit":-1,"vote":null}'])('a hard state %j is refused with CodecError (was a SyntaxError or a TypeError)', (text) => {
    expect(() => decodeHardState(enc.encode(text))).toThrow(CodecError);
  });
});
