import { describe, expect, it } from 'vitest';
import { KvSnapshotError, KvStateMachine } from '../src/index.js';
import { Driver } from './helpers.js';

function busy(): Driver {
  const d = Driver.create({ maxSessions: 50, maxResultsPerSession: 20 });
  const lease = d.grant(2000, 7).id;
  d.put('a', '1', { lease });
  d.put('b', 'é😀 unicode');
  d.put('a', '2', { lease });
  d.del('b');
  d.command({ type: 'compact', revision: 2 });
  d.put('c', '3');
  d.command({ type: 'leaseExpire', ids: [lease] });
  d.txn([{ key: 'c', target: 'exists', op: '=', value: true }], [{ op: 'range', key: '', prefix: true }]);
  return d;
}

describe('snapshot and restore', () => {
  it('restores the same state: reads, watches, leases, counters and sessions', () => {
    const d = busy();
    const back = KvStateMachine.restore(d.m.snapshot());
    for (const m of [d.m, back]) {
      expect([m.revision, m.compactRevision, m.appliedIndex, m.size, m.sessionCount]).toEqual([6, 2, 9, 1, 1]);
    }
    expect(back.range({ key: '', prefix: true })).toEqual(d.m.range({ key: '', prefix: true }));
    expect(back.range({ key: 'a', revision: 3 })).toEqual(d.m.range({ key: 'a', revision: 3 }));
    expect(back.watchFrom(3, { key: '', prefix: true, prevKv: true })).toEqual(d.m.watchFrom(3, { key: '', prefix: true, prevKv: true }));
    expect(back.watchFrom(2, { key: 'a' })).toEqual(d.m.watchFrom(2, { key: 'a' }));
    expect(back.leases()).toEqual(d.m.leases());
    // The lease-expired cause survives.
    const w = back.watchFrom(6, { key: 'a' });
    expect(w.ok && w.events[0]?.cause).toBe('lease-expired');
    // Both continue identically, index bookkeeping included.
    expect(() => back.apply(9, { type: 'noop' })).toThrow(RangeError);
    const next = { type: 'request', session: { clientId: 'client-1', seq: 99 }, op: { op: 'leaseGrant', ttlMs: 5 } } as const;
    expect(back.apply(12, next)).toEqual(d.m.apply(12, next));
    expect(Buffer.from(back.snapshot()).equals(Buffer.from(d.m.snapshot()))).toBe(true);
  });

  it('a capture encodes the state as it was, whatever is applied while it is being encoded', () => {
    const d = busy();
    for (let i = 0; i < 300; i++) d.put(`k${i % 40}`, `v${i}`);
    const lease = d.grant(1000, 11).id;
    d.put('leased', 'x', { lease });
    const expected = Buffer.from(d.m.snapshot());
    const capture = d.m.beginSnapshot();
    const pieces = capture.chunks();
    const first = pieces.next();
    // Everything that can change a captured structure: new versions, deletes, compaction (which
    // drops history), lease expiry (tombstones with a cause), new keys, sessions.
    for (let i = 0; i < 50; i++) d.put(`k${i % 45}`, `w${i}`);
    d.del('k3');
    d.command({ type: 'compact', revision: d.m.revision - 5 });
    d.command({ type: 'leaseExpire', ids: [lease] });
    d.put('new', 'n');
    const rest = [...pieces];
    const bytes = Buffer.concat([first.value as Uint8Array, ...rest]);
    expect(capture.appliedIndex).toBe(KvStateMachine.restore(expected).appliedIndex);
    expect(bytes.equals(expected)).toBe(true);
    // A second pass over the same capture gives the same bytes; the restored state is readable.
    expect(Buffer.concat([...capture.chunks()]).equals(expected)).toBe(true);
    expect(KvStateMachine.restore(bytes).range({ key: 'leased' })).toMatchObject({ ok: true, result: { kvs: [{ value: 'x' }] } });
  });

  it('comes in pieces of bounded size for a large store', () => {
    const d = Driver.create();
    for (let i = 0; i < 3000; i++) d.put(`key-${String(i).padStart(5, '0')}`, 'v'.repeat(256));
    const sizes = [...d.m.beginSnapshot().chunks()].map((c) => c.length);
    expect(sizes.length).toBeGreaterThan(3);
    expect(Math.max(...sizes)).toBeLessThan(512 * 1024);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(d.m.snapshot().length);
  });

  it('restores an empty machine', () => {
    const m = KvStateMachine.restore(new KvStateMachine().snapshot());
    expect([m.revision, m.size, m.appliedIndex]).toEqual([0, 0, 0]);
  });

  it('refuses garbage with a clear KvSnapshotError', () => {
    const good = busy().m.snapshot();
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty', new Uint8Array(0), /too short/],
      ['text', new TextEncoder().encode('definitely not a snapshot at all'), /bad magic/],
      ['flipped byte', flip(good, good.length - 10), /checksum/],
      ['truncated', good.subarray(0, good.length - 1), /checksum/],
      ['future format', withHeader(good, 8, 3), /unsupported snapshot format 3/],
      ['not JSON', rebody(good, '{"oops'), /not JSON/],
      ['wrong shape', rebody(good, '{"revision":"x"}'), /snapshot body is invalid/],
    ];
    for (const [what, bytes, message] of cases) {
      expect(() => KvStateMachine.restore(bytes), what).toThrow(KvSnapshotError);
      expect(() => KvStateMachine.restore(bytes), what).toThrow(message);
    }
  });

  it('refuses a well-formed body whose parts do not agree', () => {
    const snap = busy().m.snapshot();
    const body = JSON.parse(new TextDecoder().decode(snap.subarray(16, snap.length - 4)));
    const broken: [string, (b: typeof body) => void, RegExp][] = [
      ['keys out of order', (b) => b.keys.reverse(), /keys out of order/],
      ['unknown lease', (b) => (b.keys[0][1] = [[5, 5, 1, 42, 'v']]), /unknown lease 42/],
      ['version above revision', (b) => (b.revision = 3), /above the revision|compact revision above/],
      ['log mismatch', (b) => b.events.push(0, 6), /change log/],
      ['bad seq', (b) => (b.sessions[0][1] = 1000), /bad seq/],
    ];
    for (const [what, change, message] of broken) {
      const b = structuredClone(body);
      change(b);
      expect(() => KvStateMachine.restore(rebody(busy().m.snapshot(), JSON.stringify(b))), what).toThrow(message);
    }
  });
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

function withHeader(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(offset, value);
  return copy;
}

/** The same header with another body and its right checksum (the trailer). */
function rebody(bytes: Uint8Array, json: string): Uint8Array {
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(16 + body.length + 4);
  out.set(bytes.subarray(0, 16));
  out.set(body, 16);
  new DataView(out.buffer).setUint32(16 + body.length, crc32(body));
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
