import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, decodeMeta, decodeSlot, encodeMeta, encodeSlot, type PaxosMeta, type Slot } from '../src/index.js';

/**
 * Fuzz of the WAL record codec: accepted values and the promise register round-trip; any bytes,
 * and any damage to a valid record, are refused with CodecError or decode to a record that
 * round-trips (never a SyntaxError or a TypeError at a replica's start).
 */

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const num = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const ballot = fc.record({ round: num, node: fc.oneof(id, fc.constant('')) });
const slot: fc.Arbitrary<Slot> = fc.oneof(
  fc.record({ index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), ballot, kind: fc.constantFrom('command' as const, 'noop' as const), data: fc.uint8Array({ maxLength: 48 }) }),
  fc.record({
    index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    ballot,
    kind: fc.constant('membership' as const),
    data: fc.uint8Array({ maxLength: 48 }),
    membership: fc.record({ voters: fc.array(id, { maxLength: 5 }), learners: fc.array(id, { maxLength: 3 }) }),
  }),
);
const meta: fc.Arbitrary<PaxosMeta> = fc.record({ promised: ballot, commit: num });

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
const jsonish = fc.oneof(fc.json().map((j) => enc.encode(j)), fc.constantFrom('', '{', 'null', '[]', '{"promised":[1],"commit":0}', '{"promised":null}').map((s) => enc.encode(s)));

describe('Multi-Paxos WAL record codec (fuzz)', () => {
  it('accepted values and the promise register round-trip', () => {
    fc.assert(
      fc.property(slot, meta, (s, m) => {
        expect(decodeSlot(encodeSlot(s))).toEqual(s);
        expect(decodeMeta(encodeMeta(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses random bytes and stray JSON with CodecError only', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), jsonish), (b) => {
        const s = decodeOrRefuse(decodeSlot, b);
        if (s) expect(decodeSlot(encodeSlot(s))).toEqual(s);
        const m = decodeOrRefuse(decodeMeta, b);
        if (m) expect(decodeMeta(encodeMeta(m))).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });

  it('a damaged record is refused or decodes to one that round-trips', () => {
    fc.assert(
      fc.property(slot, meta, fc.array(damage, { minLength: 1, maxLength: 3 }), (s, m, ds) => {
        const ds1 = decodeOrRefuse(decodeSlot, ds.reduce(damaged, encodeSlot(s)));
        if (ds1) expect(decodeSlot(encodeSlot(ds1))).toEqual(ds1);
        const dm = decodeOrRefuse(decodeMeta, ds.reduce(damaged, encodeMeta(m)));
        if (dm) expect(decodeMeta(encodeMeta(dm))).toEqual(dm);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Multi-Paxos WAL record codec: what the fuzz found', () => {
  it('an accepted membership value whose JSON is damaged is refused with CodecError (was a SyntaxError)', () => {
    const good = encodeSlot({ index: 1, ballot: { round: 1, node: 'n1' }, kind: 'membership', data: new Uint8Array(0), membership: { voters: ['n1'], learners: [] } });
    const bad = good.slice();
    bad[1 + 8 + 8 + 2 + 2 + 4] = 0x7b ^ 0xff; // the first byte of the membership JSON
    expect(() => decodeSlot(bad)).toThrow(CodecError);
  });

  it.each(['', 'null', '{"promised":null,"commit":0}', '{"promised":[1,"n1",3],"commit":0}', '{"promised":[-1,"n1"],"commit":0}'])('a promise register %j is refused with CodecError (was a SyntaxError or a TypeError)', (text) => {
    expect(() => decodeMeta(enc.encode(text))).toThrow(CodecError);
  });
});
