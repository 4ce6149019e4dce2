import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMutation, FrameCapture, resolvePeerInput, type PeerInput, type PeerOracle } from '../src/index.js';
import { peerInputArb } from '../src/peer.js';

/** A toy peer codec: [version 1][to length][to][payload length][payload], checked strictly. */
const enc = new TextEncoder();
const frame = (to: string, payload: number[]) => Uint8Array.from([1, to.length, ...enc.encode(to), payload.length, ...payload]);
const oracle: PeerOracle = {
  decode(b) {
    if (b[0] !== 1) throw new Error('version');
    const n = b[1] ?? 0;
    if (b.length < 2 + n + 1) throw new Error('short');
    const to = new TextDecoder().decode(b.subarray(2, 2 + n));
    if (!/^n[1-3]$/.test(to)) throw new Error('to');
    if (b.length !== 3 + n + b[2 + n]!) throw new Error('length');
    return { to };
  },
};

describe('malformed peer frames', () => {
  const capture = new FrameCapture();
  for (const id of ['n1', 'n2', 'n3']) capture.add(id, frame(id, [7, 7, 7, 7, 7, 7, 7, 7, 7, 7]));

  it('never sends a frame that decodes, unless it is a real frame delivered to another node', () => {
    fc.assert(
      fc.property(peerInputArb, (input: PeerInput) => {
        const r = resolvePeerInput(input, ['n1', 'n2', 'n3'], capture, oracle);
        if (!r.send) return;
        let decoded: { to: string } | undefined;
        try {
          decoded = oracle.decode(r.bytes);
        } catch {
          decoded = undefined;
        }
        if (r.kind === 'misdirected') expect(decoded?.to).not.toBe(r.recipient);
        else expect(decoded).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('discards damage that leaves a well-formed frame (a flipped payload byte is a forgery, not garbage)', () => {
    const r = resolvePeerInput({ kind: 'damaged', recipient: 0, frame: 0, mutations: [{ kind: 'flip', at: 6, mask: 1 }] }, ['n1', 'n2', 'n3'], capture, oracle);
    expect(r).toEqual({ send: false, reason: 'still-well-formed' });
  });

  it('damages as asked', () => {
    const f = frame('n1', [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(applyMutation(f, { kind: 'truncate', keepPerMille: 500 }).length).toBe(Math.floor(f.length / 2));
    expect(applyMutation(f, { kind: 'version', value: 9 })[0]).toBe(9);
    const n = applyMutation(f, { kind: 'number', at: 0, value: Number.NaN });
    expect(new DataView(n.buffer).getFloat64(0, true)).toBeNaN();
    expect(applyMutation(f, { kind: 'extend', bytes: Uint8Array.of(1, 2) }).length).toBe(f.length + 2);
    expect(f[0]).toBe(1);
  });
});
