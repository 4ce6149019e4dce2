import { z } from 'zod';
import { NodeIdSchema } from '@synod/protocol';
import type { PaxosMessage, Slot } from '@synod/paxos';
import { PeerMessageError } from './peer-codec.js';

/**
 * Multi-Paxos messages on the bus, framed as Raft's: [u32 header length][header JSON][value or chunk
 * bytes back to back]. The header is the message with every byte array replaced by its length,
 * validated with zod on arrival: a peer is a boundary too.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

const Int = z.number().int().nonnegative();
const Ballot = z.object({ round: Int, node: z.union([NodeIdSchema, z.literal('')]) });
const MembershipSchema = z.object({ voters: z.array(NodeIdSchema).max(64), learners: z.array(NodeIdSchema).max(64) });
const ConfigSchema = z.object({ from: Int, membership: MembershipSchema });
const base = { from: NodeIdSchema, to: NodeIdSchema, ballot: Ballot };
const SlotHeader = z.object({
  index: Int.min(1),
  ballot: Ballot,
  kind: z.enum(['command', 'noop', 'membership']),
  size: Int,
  membership: MembershipSchema.optional(),
});

const Header = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('prePrepare'), commit: Int, transfer: z.boolean() }),
  z.object({ ...base, type: z.literal('prePrepareResp'), reject: z.boolean() }),
  z.object({ ...base, type: z.literal('prepare'), fromSlot: Int, commit: Int, transfer: z.boolean() }),
  z.object({
    ...base,
    type: z.literal('promise'),
    reject: z.boolean(),
    behind: z.boolean(),
    promised: Ballot,
    commit: Int,
    fromSlot: Int,
    entries: z.array(SlotHeader).max(100_000),
    done: z.boolean(),
  }),
  z.object({ ...base, type: z.literal('accept'), prevIndex: Int, commit: Int, entries: z.array(SlotHeader).max(100_000), notice: z.boolean().optional() }),
  z.object({ ...base, type: z.literal('acceptResp'), reject: z.boolean(), index: Int, promised: Ballot }),
  z.object({ ...base, type: z.literal('heartbeat'), commit: Int, readRound: Int }),
  z.object({ ...base, type: z.literal('heartbeatResp'), reject: z.boolean(), readRound: Int, index: Int, promised: Ballot }),
  z.object({
    ...base,
    type: z.literal('snap'),
    snapshot: z.object({ index: Int, membership: MembershipSchema, configs: z.array(ConfigSchema).max(64), size: Int }),
    offset: Int,
    size: Int,
    done: z.boolean(),
  }),
  z.object({ ...base, type: z.literal('snapResp'), index: Int, next: Int, reject: z.boolean(), done: z.boolean() }),
  z.object({ ...base, type: z.literal('timeoutNow') }),
]);

function slotHeader(s: Slot): unknown {
  return { index: s.index, ballot: s.ballot, kind: s.kind, size: s.data.length, ...(s.membership ? { membership: s.membership } : {}) };
}

export function encodePaxosMessage(m: PaxosMessage): Uint8Array {
  let blobs: Uint8Array[] = [];
  let header: unknown;
  if (m.type === 'accept' || m.type === 'promise') {
    blobs = m.entries.map((e) => e.data);
    header = { ...m, entries: m.entries.map(slotHeader) };
  } else if (m.type === 'snap') {
    blobs = [m.data];
    header = { ...m, data: undefined, size: m.data.length };
  } else {
    header = m;
  }
  const h = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(4 + h.length + blobs.reduce((n, b) => n + b.length, 0));
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  let at = 4 + h.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

export function decodePaxosMessage(b: Uint8Array): PaxosMessage {
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
  const slots = (entries: z.infer<typeof SlotHeader>[]): Slot[] =>
    entries.map((e) => {
      const s: Slot = { index: e.index, ballot: e.ballot, kind: e.kind, data: take(e.size) };
      if (e.membership) s.membership = e.membership;
      return s;
    });
  let m: PaxosMessage;
  if (h.type === 'accept') {
    m = { type: 'accept', from: h.from, to: h.to, ballot: h.ballot, prevIndex: h.prevIndex, commit: h.commit, entries: slots(h.entries) };
    if (h.notice) m.notice = true;
  } else if (h.type === 'promise') {
    const { entries, ...rest } = h;
    m = { ...rest, entries: slots(entries) };
  } else if (h.type === 'snap') {
    m = { type: 'snap', from: h.from, to: h.to, ballot: h.ballot, snapshot: h.snapshot, offset: h.offset, done: h.done, data: take(h.size) };
  } else {
    m = h as PaxosMessage;
  }
  if (at !== b.length) throw new PeerMessageError('peer message body is longer than its header says');
  return m;
}
