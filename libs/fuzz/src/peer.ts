import fc from 'fast-check';

/**
 * Malformed peer frames. The fuzzer never writes a peer message of its own: it takes frames the
 * replicas really sent (captured on their peer subjects), damages them, and checks with the
 * engine's own decoder that the result no longer decodes, before sending it. A damaged frame that
 * still decodes (a flipped byte inside an entry's data, say) would be a forged message, a Byzantine
 * fault outside the failure model: it is discarded and counted, never sent. The one well-formed
 * frame sent is a real frame delivered to a replica it was not addressed to (its `to` names
 * another node), which a replica must drop.
 */

/** The engine's peer decoder: returns the message (at least its `to`) or throws on anything malformed. */
export interface PeerOracle {
  decode(bytes: Uint8Array): { to: string };
}

/** Float64 values no peer field may carry: NaN, negative, fractional, infinite, past 2^53. */
const BAD_NUMBERS = [Number.NaN, -1, -0.5, 2.5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 60, -(2 ** 53), Number.MAX_VALUE, 5e-324];
/** u32 values for counts and lengths: beyond the frame, beyond any limit. */
const BAD_U32 = [0xffffffff, 0x7fffffff, 0x10000, 100_001, 65, 0];

export type PeerMutation =
  | { kind: 'truncate'; keepPerMille: number }
  | { kind: 'version'; value: number }
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'number'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'extend'; bytes: Uint8Array };

export type PeerInput =
  | { kind: 'damaged'; recipient: number; frame: number; mutations: PeerMutation[] }
  | { kind: 'random'; recipient: number; bytes: Uint8Array }
  | { kind: 'misdirected'; recipient: number; frame: number };

const mutationArb: fc.Arbitrary<PeerMutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), keepPerMille: fc.integer({ min: 0, max: 999 }) }),
  fc.record({ kind: fc.constant('version' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('number' as const), at: fc.nat(), value: fc.constantFrom(...BAD_NUMBERS) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(...BAD_U32) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

export const peerInputArb: fc.Arbitrary<PeerInput> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('damaged' as const), recipient: fc.nat(), frame: fc.nat(), mutations: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('random' as const), recipient: fc.nat(), bytes: fc.uint8Array({ maxLength: 512 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('misdirected' as const), recipient: fc.nat(), frame: fc.nat() }) },
);

export function applyMutation(frame: Uint8Array, m: PeerMutation): Uint8Array {
  const b = frame.slice();
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (m.kind) {
    case 'truncate':
      return b.subarray(0, Math.floor((b.length * m.keepPerMille) / 1000));
    case 'version':
      if (b.length > 0) b[0] = m.value;
      return b;
    case 'flip':
      if (b.length > 0) b[m.at % b.length]! ^= m.mask;
      return b;
    case 'number':
      if (b.length >= 8) view.setFloat64(m.at % (b.length - 7), m.value, true);
      return b;
    case 'u32':
      if (b.length >= 4) view.setUint32(m.at % (b.length - 3), m.value, true);
      return b;
    case 'byte':
      if (b.length > 0) b[m.at % b.length] = m.value;
      return b;
    case 'extend': {
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b);
      out.set(m.bytes, b.length);
      return out;
    }
  }
}

/** The frames each replica received lately, newest last, captured on its peer subject. */
export class FrameCapture {
  private readonly frames = new Map<string, Uint8Array[]>();
  constructor(private readonly keep = 64) {}

  add(recipient: string, frame: Uint8Array): void {
    let list = this.frames.get(recipient);
    if (!list) this.frames.set(recipient, (list = []));
    list.push(frame.slice());
    if (list.length > this.keep) list.shift();
  }

  of(recipient: string): Uint8Array[] {
    return this.frames.get(recipient) ?? [];
  }

  get size(): number {
    let n = 0;
    for (const l of this.frames.values()) n += l.length;
    return n;
  }
}

export type ResolvedPeerInput =
  | { send: true; kind: 'malformed' | 'misdirected'; recipient: string; bytes: Uint8Array; what: string }
  /** Not sent: nothing captured yet, or the damage left a frame that decodes (it would be a forgery). */
  | { send: false; reason: 'no-frame' | 'still-well-formed' };

/** Picks the recipient and frame, applies the damage, and checks with the oracle that what is sent is malformed (or misdirected). */
export function resolvePeerInput(input: PeerInput, replicas: readonly string[], capture: FrameCapture, oracle: PeerOracle): ResolvedPeerInput {
  const recipient = replicas[input.recipient % replicas.length]!;
  if (input.kind === 'random') {
    return decodes(oracle, input.bytes) ? { send: false, reason: 'still-well-formed' } : { send: true, kind: 'malformed', recipient, bytes: input.bytes, what: `${input.bytes.length} random bytes` };
  }
  if (input.kind === 'misdirected') {
    // A frame addressed to another replica, unchanged.
    const others = replicas.filter((r) => r !== recipient);
    const from = others[input.frame % others.length]!;
    const frames = capture.of(from);
    if (frames.length === 0) return { send: false, reason: 'no-frame' };
    const bytes = frames[input.frame % frames.length]!;
    let to: string;
    try {
      to = oracle.decode(bytes).to;
    } catch {
      return { send: false, reason: 'no-frame' };
    }
    if (to === recipient) return { send: false, reason: 'still-well-formed' };
    return { send: true, kind: 'misdirected', recipient, bytes, what: `a frame to ${to} delivered to ${recipient}` };
  }
  const frames = capture.of(recipient);
  if (frames.length === 0) return { send: false, reason: 'no-frame' };
  const bytes = input.mutations.reduce(applyMutation, frames[input.frame % frames.length]!);
  if (decodes(oracle, bytes)) return { send: false, reason: 'still-well-formed' };
  return { send: true, kind: 'malformed', recipient, bytes, what: `a frame to ${recipient} with ${input.mutations.map((m) => m.kind).join(', ')}` };
}

function decodes(oracle: PeerOracle, bytes: Uint8Array): boolean {
  try {
    oracle.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
