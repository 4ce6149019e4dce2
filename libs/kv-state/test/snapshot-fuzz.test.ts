import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KvSnapshotError, KvStateMachine } from '../src/index.js';
import { Driver } from './helpers.js';

/**
 * Fuzz of the snapshot codec, which reads bytes a leader streams to a follower and a replica reads
 * back from disk: a state round-trips exactly, and anything else (random bytes, a damaged body
 * that still carries its right checksum) is refused with KvSnapshotError only, or restores a
 * machine that works.
 */

const KEYS = ['a', 'b', 'c', 'd/e', 'd/f'];
const opArb = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key: fc.constantFrom(...KEYS), value: fc.string({ maxLength: 6 }), leased: fc.boolean() }),
  fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...KEYS, 'd/'), prefix: fc.boolean() }),
  fc.record({ op: fc.constant('grant' as const), ttlMs: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ op: fc.constant('expire' as const) }),
  fc.record({ op: fc.constant('compact' as const), back: fc.nat(4) }),
  fc.record({ op: fc.constant('client' as const), clientId: fc.constantFrom('c1', 'c2', 'c3'), seq: fc.integer({ min: 1, max: 20 }) }),
);
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

/** A machine after these operations (refused ones included: they are part of its history too). */
function build(ops: Op[]): KvStateMachine {
  const d = Driver.create({ maxSessions: 4, maxResultsPerSession: 3 });
  const leases: number[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'put':
        d.write({ op: 'put', key: o.key, value: o.value, ...(o.leased && leases.length > 0 ? { lease: leases[leases.length - 1]! } : {}) });
        break;
      case 'delete':
        d.write({ op: 'delete', key: o.key, prefix: o.prefix });
        break;
      case 'grant': {
        const r = d.write({ op: 'leaseGrant', ttlMs: o.ttlMs });
        if (r.ok && r.result.op === 'leaseGrant') leases.push(r.result.id);
        break;
      }
      case 'expire':
        if (leases.length > 0) d.command({ type: 'leaseExpire', ids: [leases.shift()!] });
        break;
      case 'compact':
        d.command({ type: 'compact', revision: Math.max(0, d.m.revision - o.back) });
        break;
      case 'client':
        d.command({ type: 'request', session: { clientId: o.clientId, seq: o.seq }, op: { op: 'put', key: 'a', value: o.clientId } });
        break;
    }
  }
  return d.m;
}

const HEADER_BYTES = 16;
const TRAILER_BYTES = 4;
const bodyOf = (snapshot: Uint8Array): Uint8Array => snapshot.subarray(HEADER_BYTES, snapshot.length - TRAILER_BYTES);

/** The snapshot's header around another body, with that body's right checksum: damage that reaches the decoder. */
function rebody(snapshot: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length + TRAILER_BYTES);
  out.set(snapshot.subarray(0, HEADER_BYTES));
  out.set(body, HEADER_BYTES);
  new DataView(out.buffer).setUint32(HEADER_BYTES + body.length, crc32(body));
  return out;
}

/** Every path into a JSON value, root excluded. */
function pathsOf(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      pathsOf(x, p, out);
    }
  }
  return out;
}

function setAt(v: unknown, path: (string | number)[], value: unknown): void {
  let at = v as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(at)) at.splice(Number(last), 1);
    else delete at[last];
  } else at[last] = value;
}

/** Restores `bytes`: a KvSnapshotError, or a machine that answers reads and snapshots again; anything else throws. */
function restoreOrRefuse(bytes: Uint8Array): 'refused' | 'restored' {
  let m: KvStateMachine;
  try {
    m = KvStateMachine.restore(bytes);
  } catch (err) {
    if (err instanceof KvSnapshotError) return 'refused';
    throw err;
  }
  m.range({ key: '', prefix: true });
  m.watchFrom(m.compactRevision + 1, { key: '', prefix: true });
  KvStateMachine.restore(m.snapshot());
  return 'restored';
}

describe('kv snapshot codec fuzz', () => {
  it('a state round-trips to the same bytes and the same reads', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const m = build(ops);
        const bytes = m.snapshot();
        const back = KvStateMachine.restore(bytes);
        expect(Buffer.from(back.snapshot()).equals(Buffer.from(bytes))).toBe(true);
        expect(back.range({ key: '', prefix: true })).toEqual(m.range({ key: '', prefix: true }));
        expect(back.leases()).toEqual(m.leases());
        expect([back.revision, back.compactRevision, back.appliedIndex, back.sessionCount]).toEqual([m.revision, m.compactRevision, m.appliedIndex, m.sessionCount]);
      }),
      { numRuns: 200 },
    );
  });

  it('random bytes are refused with KvSnapshotError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.boolean(), (bytes, asBody) => {
        const input = asBody ? rebody(new KvStateMachine().snapshot(), bytes) : bytes;
        expect(() => KvStateMachine.restore(input)).toThrow(KvSnapshotError);
      }),
      { numRuns: 300 },
    );
  });

  it('a body damaged byte by byte (checksum right) is refused with KvSnapshotError, or restores a working machine', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }), (ops, damage) => {
        const snapshot = build(ops).snapshot();
        const body = bodyOf(snapshot).slice();
        for (const d of damage) body[d.at % body.length] = d.byte;
        restoreOrRefuse(rebody(snapshot, body));
      }),
      { numRuns: 300 },
    );
  });

  it('a body with one field replaced by any JSON value, or removed, is refused with KvSnapshotError, or restores a working machine', () => {
    const outcomes = new Set<string>();
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.nat(), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }), (ops, at, value) => {
        const snapshot = build(ops).snapshot();
        const body = JSON.parse(new TextDecoder().decode(bodyOf(snapshot))) as unknown;
        const paths = pathsOf(body);
        setAt(body, paths[at % paths.length]!, value);
        outcomes.add(restoreOrRefuse(rebody(snapshot, new TextEncoder().encode(JSON.stringify(body)))));
      }),
      { numRuns: 500 },
    );
    // Both happen: the property is not vacuous.
    expect(outcomes).toEqual(new Set(['refused', 'restored']));
  });
});
