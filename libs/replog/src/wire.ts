import type { Membership, NodeId } from './engine.js';

/**
 * The binary framing of peer messages, shared by every engine's wire codec: a message is read back
 * field by field and checked as it is read (a peer is a boundary too: garbage is dropped and
 * logged, never stepped into an engine).
 *
 *   u8 version · u8 type · from · to · the type's fields
 *
 * where a node id is u8 length + ASCII (the node-id alphabet), a number is a float64 that must be a
 * non-negative safe integer, a flag is one byte 0 or 1, a membership is its voters then its
 * learners (u8 count + ids each), and byte arrays follow their u32 length. It replaced a JSON header
 * validated with zod: on the path of every write (leader → follower and back) that took 25–60 µs
 * per message on a replica, this takes a few. Peers of a cluster must run the same version: a
 * message of another version is refused.
 */

const MAX_MEMBERS = 64;
const MAX_ID = 64;

export class PeerMessageError extends Error {
  override readonly name = 'PeerMessageError';
  readonly code = 'BAD_REQUEST';
  readonly retryable = false;
}

/** The node-id alphabet (protocol's NodeIdSchema): A-Z a-z 0-9 _ -. */
function isIdChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
}

/** Bytes a membership takes on the wire. */
export function membershipSize(m: Membership): number {
  return 2 + [...m.voters, ...m.learners].reduce((n, id) => n + 1 + id.length, 0);
}

export class WireWriter {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  at = 0;

  /**
   * A message of `type` (its code) from `from` to `to`, in a buffer of at most `bodyBytes` after
   * the header (an upper bound is enough: `finish` trims).
   */
  constructor(version: number, type: number, from: NodeId, to: NodeId, bodyBytes: number) {
    this.buf = new Uint8Array(2 + 2 + from.length + to.length + bodyBytes);
    this.view = new DataView(this.buf.buffer);
    this.u8(version);
    this.u8(type);
    this.id(from);
    this.id(to);
  }

  u8(v: number): void {
    this.buf[this.at++] = v;
  }

  u32(v: number): void {
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }

  num(v: number): void {
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  flag(v: boolean | undefined): void {
    this.buf[this.at++] = v ? 1 : 0;
  }

  /** A node id; with `orEmpty`, the empty id too (written as length 0). */
  id(s: string, orEmpty = false): void {
    if ((s.length < 1 && !orEmpty) || s.length > MAX_ID) throw new PeerMessageError(`node id "${s}" cannot be encoded`);
    this.buf[this.at++] = s.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (!isIdChar(c)) throw new PeerMessageError(`node id "${s}" cannot be encoded`);
      this.buf[this.at++] = c;
    }
  }

  membership(m: Membership): void {
    for (const ids of [m.voters, m.learners]) {
      if (ids.length > MAX_MEMBERS) throw new PeerMessageError(`a membership of ${ids.length} ids cannot be encoded`);
      this.u8(ids.length);
      for (const id of ids) this.id(id);
    }
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** The message written. */
  finish(): Uint8Array {
    return this.at === this.buf.length ? this.buf : this.buf.subarray(0, this.at);
  }
}

export class WireReader {
  private readonly view: DataView;
  private at = 0;
  /** The message's type name, and who sent it to whom. */
  readonly type: string;
  readonly from: NodeId;
  readonly to: NodeId;

  /** Reads the header of `b`: refuses another version and a type not in `types` (indexed by code). */
  constructor(
    private readonly b: Uint8Array,
    version: number,
    types: readonly string[],
  ) {
    if (b.length < 2) throw new PeerMessageError(`peer message of ${b.length} bytes is too short`);
    if (b[0] !== version) throw new PeerMessageError(`peer message of format version ${b[0]}; this replica reads version ${version} (peers must run the same release)`);
    const type = types[b[1]!];
    if (type === undefined) throw new PeerMessageError(`peer message of unknown type ${b[1]}`);
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.at = 2;
    this.type = type;
    this.from = this.id('from');
    this.to = this.id('to');
  }

  private need(n: number, what: string): void {
    if (this.at + n > this.b.length) throw new PeerMessageError(`peer message is shorter than its fields say (at ${what})`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.b[this.at++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  /** A count of items, at most `max`. */
  count(what: string, max: number): number {
    const n = this.u32(what);
    if (n > max) throw new PeerMessageError(`invalid peer message: ${n} ${what}, at most ${max}`);
    return n;
  }

  num(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    if (!(Number.isSafeInteger(v) && v >= 0)) throw new PeerMessageError(`invalid peer message: ${what} is ${v}, not a non-negative integer`);
    return v;
  }

  /** An index: a number of at least 1. */
  index(what: string): number {
    const v = this.num(what);
    if (v < 1) throw new PeerMessageError(`invalid peer message: ${what} 0`);
    return v;
  }

  flag(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) throw new PeerMessageError(`invalid peer message: ${what} is ${v}, not a flag (0 or 1)`);
    return v === 1;
  }

  /** A node id; with `orEmpty`, the empty id too. */
  id(what: string, orEmpty = false): string {
    const n = this.u8(what);
    if ((n < 1 && !orEmpty) || n > MAX_ID) throw new PeerMessageError(`invalid peer message: ${what} is not a node id (length ${n})`);
    this.need(n, what);
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = this.b[this.at++]!;
      if (!isIdChar(c)) throw new PeerMessageError(`invalid peer message: ${what} is not a node id (letters, digits, _ or -)`);
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** One of `values`, by its code. */
  oneOf<T>(what: string, values: readonly T[]): T {
    const v = values[this.u8(what)];
    if (v === undefined) throw new PeerMessageError(`invalid peer message: unknown ${what}`);
    return v;
  }

  private ids(what: string): string[] {
    const n = this.u8(what);
    if (n > MAX_MEMBERS) throw new PeerMessageError(`invalid peer message: ${what} lists ${n} ids, at most ${MAX_MEMBERS}`);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.id(what));
    return out;
  }

  membership(what: string): Membership {
    return { voters: this.ids(`${what} voters`), learners: this.ids(`${what} learners`) };
  }

  /** A copy: the bus may reuse the buffer a message arrived in. */
  bytes(what: string): Uint8Array {
    const n = this.u32(what);
    this.need(n, what);
    const out = this.b.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** The message must end here. */
  end(): void {
    if (this.at !== this.b.length) throw new PeerMessageError(`peer message is longer than its fields say (${this.b.length - this.at} bytes left over)`);
  }
}
