import { z } from 'zod';
import { NodeIdSchema } from '@synod/protocol';
import type { Entry, RaftMessage } from '@synod/raft';

/**
 * Raft messages on the bus: [u32 header length][header JSON][entry or chunk bytes back to back].
 * The header is the message with every byte array replaced by its length, validated with zod on
 * arrival (a peer is a boundary too: garbage is dropped and logged, never stepped).
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

const Int = z.number().int().nonnegative();
const MembershipSchema = z.object({ voters: z.array(NodeIdSchema).max(64), learners: z.array(NodeIdSchema).max(64) });
const base = { from: NodeIdSchema, to: NodeIdSchema, term: Int };
const EntryHeader = z.object({
  index: Int.min(1),
  term: Int,
  type: z.enum(['normal', 'noop', 'membership']),
  size: Int,
  membership: MembershipSchema.optional(),
});

const Header = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('app'), prevIndex: Int, prevTerm: Int, commit: Int, entries: z.array(EntryHeader).max(100_000), notice: z.boolean().optional() }),
  z.object({ ...base, type: z.literal('appResp'), index: Int, reject: z.boolean(), hint: Int }),
  z.object({ ...base, type: z.enum(['vote', 'preVote']), lastIndex: Int, lastTerm: Int, transfer: z.boolean() }),
  z.object({ ...base, type: z.enum(['voteResp', 'preVoteResp']), reject: z.boolean() }),
  z.object({ ...base, type: z.literal('heartbeat'), commit: Int, readRound: Int }),
  z.object({ ...base, type: z.literal('heartbeatResp'), readRound: Int }),
  z.object({
    ...base,
    type: z.literal('snap'),
    snapshot: z.object({ index: Int, term: Int, membership: MembershipSchema, size: Int }),
    offset: Int,
    size: Int,
    done: z.boolean(),
  }),
  z.object({ ...base, type: z.literal('snapResp'), index: Int, next: Int, reject: z.boolean(), done: z.boolean() }),
  z.object({ ...base, type: z.literal('timeoutNow') }),
]);

export function encodePeerMessage(m: RaftMessage): Uint8Array {
  let blobs: Uint8Array[] = [];
  let header: unknown;
  if (m.type === 'app') {
    blobs = m.entries.map((e) => e.data);
    header = { ...m, entries: m.entries.map((e) => ({ index: e.index, term: e.term, type: e.type, size: e.data.length, ...(e.membership ? { membership: e.membership } : {}) })) };
  } else if (m.type === 'snap') {
    blobs = [m.data];
    header = { ...m, data: undefined, size: m.data.length };
  } else {
    header = m;
  }
  const h = enc.encode(JSON.stringify(header));
  const total = 4 + h.length + blobs.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  let at = 4 + h.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

export class PeerMessageError extends Error {
  override readonly name = 'PeerMessageError';
  readonly code = 'BAD_REQUEST';
  readonly retryable = false;
}

export function decodePeerMessage(b: Uint8Array): RaftMessage {
  if (b.length < 4) throw new PeerMessageError(`peer message of ${b.length} bytes is too short`);
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
  if (4 + len > b.length) throw new PeerMessageError('peer message header is longer than the message');
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(b.subarray(4, 4 + len)));
  } catch {
    throw new PeerMessageError('peer message header is not JSON');
  }
  const parsed = Header.safeParse(json);
  if (!parsed.success) throw new PeerMessageError(`invalid peer message: ${z.prettifyError(parsed.error)}`);
  const h = parsed.data;
  let at = 4 + len;
  const take = (n: number): Uint8Array => {
    if (at + n > b.length) throw new PeerMessageError('peer message body is shorter than its header says');
    const out = b.slice(at, at + n);
    at += n;
    return out;
  };
  let m: RaftMessage;
  if (h.type === 'app') {
    const entries: Entry[] = h.entries.map((e) => {
      const entry: Entry = { index: e.index, term: e.term, type: e.type, data: take(e.size) };
      if (e.membership) entry.membership = e.membership;
      return entry;
    });
    m = { type: 'app', from: h.from, to: h.to, term: h.term, prevIndex: h.prevIndex, prevTerm: h.prevTerm, commit: h.commit, entries };
    if (h.notice) m.notice = true;
  } else if (h.type === 'snap') {
    m = { type: 'snap', from: h.from, to: h.to, term: h.term, snapshot: h.snapshot, offset: h.offset, done: h.done, data: take(h.size) };
  } else {
    m = h as RaftMessage;
  }
  if (at !== b.length) throw new PeerMessageError('peer message body is longer than its header says');
  return m;
}
