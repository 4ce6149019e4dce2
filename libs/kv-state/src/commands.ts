import {
  type CompactResult,
  KvError,
  KvWriteOp,
  KvWriteResult,
  LeaseId,
  Revision,
  type WatchEvent,
} from '@synod/protocol';
import { z } from 'zod';

/** Longest client id, in characters. */
export const MAX_CLIENT_ID_LENGTH = 256;
/** Most lease ids in one leaseExpire, and client ids in one expireSessions. */
export const MAX_IDS_PER_COMMAND = 10_000;

export const ClientId = z
  .string('clientId must be a string')
  .min(1, 'clientId must not be empty')
  .max(MAX_CLIENT_ID_LENGTH, `clientId must be at most ${MAX_CLIENT_ID_LENGTH} characters`);
export type ClientId = z.infer<typeof ClientId>;

/** A client's request number: 1 for its first request, then one more for each new request. */
export const Seq = z.int('seq must be an integer').positive('seq must be positive');

/**
 * Who sent a write, for exactly-once application. `ackBelow`: the client has its answers for every
 * seq below this one, so the store may forget them (absent or 1: nothing acknowledged yet).
 */
export const ClientSession = z
  .object({
    clientId: ClientId,
    seq: Seq,
    ackBelow: z.int('ackBelow must be an integer').nonnegative('ackBelow must not be negative').optional(),
  })
  .refine((s) => s.ackBelow === undefined || s.ackBelow <= s.seq, {
    message: 'ackBelow must not be above seq (a client cannot acknowledge the request it is sending)',
    path: ['ackBelow'],
  });
export type ClientSession = z.infer<typeof ClientSession>;

/** A client write, applied at most once per (clientId, seq). */
export const RequestCommand = z.object({ type: z.literal('request'), session: ClientSession, op: KvWriteOp });
export type RequestCommand = z.infer<typeof RequestCommand>;

/** Leases whose deadline the leader saw pass: deletes them and their keys (events say 'lease-expired'). */
export const LeaseExpireCommand = z.object({
  type: z.literal('leaseExpire'),
  ids: z.array(LeaseId).max(MAX_IDS_PER_COMMAND, `at most ${MAX_IDS_PER_COMMAND} lease ids per command`),
});
export type LeaseExpireCommand = z.infer<typeof LeaseExpireCommand>;

/** Drops history at or below `revision`; current values stay. */
export const CompactCommand = z.object({ type: z.literal('compact'), revision: Revision });
export type CompactCommand = z.infer<typeof CompactCommand>;

/** Forgets the sessions of clients the leader saw go quiet. */
export const ExpireSessionsCommand = z.object({
  type: z.literal('expireSessions'),
  clientIds: z.array(ClientId).max(MAX_IDS_PER_COMMAND, `at most ${MAX_IDS_PER_COMMAND} client ids per command`),
});
export type ExpireSessionsCommand = z.infer<typeof ExpireSessionsCommand>;

export const NoopCommand = z.object({ type: z.literal('noop') });
export type NoopCommand = z.infer<typeof NoopCommand>;

/** Everything the Raft log carries to the state machine; a replica validates decoded entries with it. */
export const KvCommand = z.discriminatedUnion('type', [
  RequestCommand,
  LeaseExpireCommand,
  CompactCommand,
  ExpireSessionsCommand,
  NoopCommand,
]);
export type KvCommand = z.infer<typeof KvCommand>;

/** The part of a request that is checked before its op, so an invalid op still goes through the session. */
export const RequestEnvelope = z.object({ type: z.literal('request'), session: ClientSession });

export interface LeaseExpireResult {
  op: 'leaseExpire';
  /** Store revision after the command. */
  revision: number;
  /** Keys deleted. */
  deleted: number;
  /** Ids that named a live lease (the others were already gone), in command order. */
  expired: number[];
}

export interface ExpireSessionsResult {
  op: 'expireSessions';
  /** Sessions that existed and were dropped. */
  expired: number;
}

/** What one command did, tagged with `op`: the write's op for a request, else the command type. */
export type KvCommandResult =
  | KvWriteResult
  | LeaseExpireResult
  | (CompactResult & { op: 'compact' })
  | ExpireSessionsResult
  | { op: 'noop' };

/** A request's outcome, as cached in its session (so a retry gets the very same answer). */
export const KvRequestOutcome = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: KvWriteResult }),
  z.object({ ok: z.literal(false), error: KvError }),
]);
export type KvRequestOutcome = z.infer<typeof KvRequestOutcome>;

export type KvOutcome = { ok: true; result: KvCommandResult } | { ok: false; error: KvError };

/**
 * The answer of `apply`. `revision`: the store revision after the command. `events`: the changes
 * it made, in order, each with its `prevKv` (empty for a failed command or a duplicate).
 * `duplicate`: a retried request answered from its session without applying anything.
 */
export type KvApplyResult = KvOutcome & { revision: number; events: WatchEvent[]; duplicate?: true };
