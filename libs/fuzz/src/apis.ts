import { neverGrantedLease, type FuzzContext } from './context.js';
import type { ApiName } from './targets.js';

/**
 * The request vocabularies: valid templates (what the hostile payloads are made from) and
 * well-formed but semantically wrong requests with the answers they must get.
 */

/** Values of the target's parameters an input was sent with (`endpoint`, `nodeId`, ...). */
export type ParamValues = Partial<Record<string, string>>;

export interface Template {
  name: string;
  body: unknown;
  /** Answered at once whatever the deadline (no wait, no write): safe to pair with a fuzzed deadline header. */
  quick?: boolean;
}

/**
 * What a reply must be:
 * - `any`: an envelope; an error of any catalogued code but INTERNAL.
 * - `codes`: an error with one of these codes, or any retryable error (NOT_LEADER, UNAVAILABLE, a
 *   deadline...); a success is a failure (the wrong request was accepted).
 * - `ok`: a success, or any retryable error.
 */
export type Expect =
  | { kind: 'any' }
  | { kind: 'codes'; codes: readonly string[] }
  | { kind: 'ok' }
  /** A watch created by this request (a success, or a retryable error) must then deliver `events` events, in revision order, before its deadline. */
  | { kind: 'watch-delivers'; events: number };

export interface Step {
  body: unknown;
  expect: Expect;
  /** The deadline this request carries instead of the usual one, in ms. */
  deadlineMs?: number;
}

export interface SemanticCase {
  name: string;
  /** Parameter values this case needs (a sleep needs the `sleep` endpoint); undefined: any. */
  params?: ParamValues;
  steps(ctx: FuzzContext, n: number): Step[];
}

/** Any envelope; the expectation of every input that is not a semantic case. */
export const EXPECT_ANY: Expect = { kind: 'any' };
const codes = (...c: string[]): Expect => ({ kind: 'codes', codes: c });

// ------------------------------------------------------------------ store

const session = (ctx: FuzzContext, extra: Record<string, unknown> = {}) => ({ clientId: ctx.clientId, seq: ctx.nextSeq(), ...extra });

function storeTemplates(ctx: FuzzContext): Template[] {
  const seq = () => session(ctx);
  return [
    { name: 'status', body: { type: 'status' }, quick: true },
    { name: 'range', body: { type: 'range', consistency: 'linearizable', request: { key: 'fuzz-ack/', prefix: true, limit: 5 } } },
    { name: 'range stale', body: { type: 'range', consistency: 'stale', request: { key: 'fuzz/a', revision: ctx.store.compactRevision + 1, sortBy: 'modRevision', order: 'desc' } }, quick: true },
    { name: 'put', body: { type: 'write', session: seq(), op: { op: 'put', key: 'fuzz/k', value: 'v', prevKv: true } } },
    { name: 'delete', body: { type: 'write', session: seq(), op: { op: 'delete', key: 'fuzz/d', prefix: true } } },
    {
      name: 'txn',
      body: {
        type: 'write',
        session: seq(),
        op: {
          op: 'txn',
          compare: [{ key: 'fuzz/t', target: 'version', op: '=', value: 0 }],
          success: [{ op: 'put', key: 'fuzz/t', value: 'x' }],
          failure: [{ op: 'range', key: 'fuzz/t' }],
        },
      },
    },
    { name: 'lease grant', body: { type: 'write', session: seq(), op: { op: 'leaseGrant', ttlMs: 2000 } } },
    { name: 'batch', body: { type: 'write', session: seq(), op: { op: 'batch', ops: [{ op: 'put', key: 'fuzz/b', value: '1' }, { op: 'delete', key: 'fuzz/b' }] } } },
    { name: 'leases', body: { type: 'leases' } },
    { name: 'watch', body: { type: 'watch', watchId: `fz-${ctx.nextSeq()}`, inbox: ctx.inbox(0), filter: { key: 'fuzz/', prefix: true }, once: true } },
    { name: 'watch renew', body: { type: 'watchRenew', watchIds: ['fz-unknown', 'fz-1'] }, quick: true },
    { name: 'watch cancel', body: { type: 'watchCancel', watchId: 'fz-unknown' }, quick: true },
  ];
}

const storeCases: SemanticCase[] = [
  { name: 'keep-alive of a lease never granted', steps: (ctx, n) => [{ body: { type: 'leaseKeepAlive', id: neverGrantedLease(n) }, expect: codes('LEASE_NOT_FOUND') }] },
  { name: 'time-to-live of a lease never granted', steps: (ctx, n) => [{ body: { type: 'leaseTimeToLive', id: neverGrantedLease(n) }, expect: codes('LEASE_NOT_FOUND') }] },
  {
    name: 'revoke of a lease never granted',
    steps: (ctx, n) => [{ body: { type: 'write', session: session(ctx), op: { op: 'leaseRevoke', id: neverGrantedLease(n) } }, expect: codes('LEASE_NOT_FOUND') }],
  },
  {
    name: 'put on a lease never granted',
    steps: (ctx, n) => [{ body: { type: 'write', session: session(ctx), op: { op: 'put', key: `fuzz/l${n % 16}`, value: 'x', lease: neverGrantedLease(n) } }, expect: codes('LEASE_NOT_FOUND') }],
  },
  {
    name: 'read at a revision beyond the store',
    steps: (ctx, n) => [
      { body: { type: 'range', consistency: n % 2 === 0 ? 'stale' : 'linearizable', request: { key: 'fuzz-ack/0', revision: ctx.store.revision + 1_000_000 + (n % 1000) } }, expect: codes('FUTURE_REVISION') },
    ],
  },
  { name: 'compaction beyond the store', steps: (ctx, n) => [{ body: { type: 'compact', revision: ctx.store.revision + 1_000_000 + (n % 1000) }, expect: codes('FUTURE_REVISION') }] },
  {
    name: 'read at a compacted revision',
    steps: (ctx, n) => [{ body: { type: 'range', consistency: 'stale', request: { key: 'fuzz-ack/0', revision: 1 + (n % ctx.store.compactRevision) } }, expect: codes('COMPACTED') }],
  },
  { name: 'compaction at a compacted revision', steps: (ctx, n) => [{ body: { type: 'compact', revision: 1 + (n % ctx.store.compactRevision) }, expect: codes('COMPACTED') }] },
  {
    name: 'watch from a compacted revision',
    steps: (ctx, n) => [
      {
        body: { type: 'watch', watchId: `fz-c${n}`, inbox: ctx.inbox(n), filter: { key: 'fuzz/', prefix: true }, fromRevision: 1 + (n % ctx.store.compactRevision) },
        expect: codes('COMPACTED'),
      },
    ],
  },
  {
    name: 'a retried write the client already acknowledged',
    steps: (ctx) => {
      const first = ctx.nextSeq();
      const seq = ctx.nextSeq();
      return [
        // The session must exist first: a client unknown to the store that says it acknowledged
        // answers is refused as one whose session expired.
        { body: { type: 'write', session: { clientId: ctx.clientId, seq: first }, op: { op: 'put', key: 'fuzz/s', value: 'a' } }, expect: { kind: 'ok' } },
        { body: { type: 'write', session: { clientId: ctx.clientId, seq, ackBelow: seq }, op: { op: 'put', key: 'fuzz/s', value: 'b' } }, expect: { kind: 'ok' } },
        { body: { type: 'write', session: { clientId: ctx.clientId, seq: first }, op: { op: 'put', key: 'fuzz/s', value: 'c' } }, expect: codes('SESSION_STALE') },
      ];
    },
  },
  {
    name: 'membership change of a node not in the cluster',
    steps: (_ctx, n) => [{ body: { type: 'member', change: { type: n % 2 === 0 ? 'remove' : 'promote', node: `zz${n % 100}` } }, expect: codes('BAD_REQUEST') }],
  },
  { name: 'leadership transfer to a node not in the cluster', steps: (_ctx, n) => [{ body: { type: 'transfer', to: `zz${n % 100}` }, expect: codes('BAD_REQUEST') }] },
  {
    name: 'a range whose answer is larger than one NATS message',
    steps: (ctx) => [{ body: { type: 'range', consistency: 'stale', request: { key: ctx.store.bigPrefix, prefix: true } }, expect: codes('PAYLOAD_TOO_LARGE') }],
  },
  {
    name: 'a watch over events larger together than one NATS message delivers every one',
    steps: (ctx, n) => [
      {
        body: { type: 'watch', watchId: `fz-big-${n}`, inbox: ctx.inbox(n), filter: { key: ctx.store.bigPrefix, prefix: true }, fromRevision: ctx.store.bigFromRevision },
        expect: { kind: 'watch-delivers', events: ctx.store.bigCount },
      },
    ],
  },
  {
    name: 'snapshot chunk of a snapshot never started',
    steps: (_ctx, n) => [{ body: { type: 'snapshot', offset: n % 4096, token: `feedface${String(n % 1e8).padStart(8, '0')}` }, expect: codes('BAD_REQUEST') }],
  },
];

// ------------------------------------------------------------------ lock manager

function lockTemplates(ctx: FuzzContext): Template[] {
  const { lock } = ctx;
  return [
    { name: 'state', body: { type: 'state', name: lock.heldName }, quick: true },
    { name: 'session', body: { type: 'session', ttlMs: 1000 } },
    { name: 'keep-alive', body: { type: 'keepAlive', lease: lock.ownLease } },
    { name: 'try-acquire', body: { type: 'acquire', name: 'fuzz-free', lease: lock.ownLease, timeoutMs: 0 } },
    { name: 'acquire semaphore', body: { type: 'acquire', name: 'fuzz-sem', lease: lock.ownLease, timeoutMs: 200, mode: 'semaphore', permits: 2 } },
    { name: 'acquire read', body: { type: 'acquire', name: 'fuzz-rw', lease: lock.ownLease, timeoutMs: 100, mode: 'read', lockDelayMs: 0, keepWaiting: false } },
    { name: 'cancel', body: { type: 'cancel', name: 'fuzz-free', lease: lock.ownLease } },
    { name: 'read', body: { type: 'read', key: 'fuzz-obj/a' } },
    { name: 'cas', body: { type: 'cas', key: 'fuzz-obj/a', expectedVersion: 0, value: 'v', opId: 'fuzz-op-0001' } },
  ];
}

const lockCases: SemanticCase[] = [
  { name: 'keep-alive of a lease never granted', steps: (_ctx, n) => [{ body: { type: 'keepAlive', lease: neverGrantedLease(n) }, expect: codes('LEASE_NOT_FOUND') }] },
  { name: 'revoke of a lease never granted', steps: (_ctx, n) => [{ body: { type: 'revoke', lease: neverGrantedLease(n) }, expect: { kind: 'ok' } }] },
  {
    name: 'acquire on a lease never granted',
    steps: (_ctx, n) => [{ body: { type: 'acquire', name: `fuzz-ng-${n % 64}`, lease: neverGrantedLease(n), timeoutMs: 0 }, expect: codes('LEASE_NOT_FOUND') }],
  },
  {
    name: 'release with the fencing token of another lock',
    steps: (ctx, n) => [{ body: { type: 'release', name: `fuzz-other-${n % 64}`, lease: ctx.lock.heldLease, token: ctx.lock.heldToken }, expect: codes('NOT_HOLDER') }],
  },
  {
    name: 'release with a token this lock never granted',
    steps: (ctx, n) => [{ body: { type: 'release', name: ctx.lock.heldName, lease: ctx.lock.heldLease, token: ctx.lock.heldToken + 1 + (n % 1_000_000) }, expect: codes('NOT_HOLDER') }],
  },
  {
    name: 'release of a lock held by another lease',
    steps: (ctx) => [{ body: { type: 'release', name: ctx.lock.heldName, lease: ctx.lock.ownLease, token: ctx.lock.heldToken }, expect: codes('NOT_HOLDER') }],
  },
  {
    name: 'try-acquire of a lock another lease holds',
    steps: (ctx) => [{ body: { type: 'acquire', name: ctx.lock.heldName, lease: ctx.lock.ownLease, timeoutMs: 0 }, expect: codes('TIMEOUT') }],
  },
  {
    name: 'compare-and-set against a version that is not the current one',
    steps: (ctx, n) => [{ body: { type: 'cas', key: ctx.lock.casKey, expectedVersion: 2 + (n % 1000), value: 'x' }, expect: codes('CONFLICT') }],
  },
];

// ------------------------------------------------------------------ lock manager's admin subject

function lockAdminTemplates(ctx: FuzzContext): Template[] {
  return [
    { name: 'force-release of a free lock', body: { type: 'forceRelease', name: 'fuzz-free', token: 1, actor: 'fuzzer' } },
    { name: 'force-release of the held lock with a stale token', body: { type: 'forceRelease', name: ctx.lock.heldName, token: Math.max(1, ctx.lock.heldToken - 1), actor: 'fuzzer' } },
  ];
}

const lockAdminCases: SemanticCase[] = [
  {
    // A force-release names the holder's token: any other token releases nothing.
    name: 'force-release with a token the holder does not have',
    steps: (ctx, n) => [{ body: { type: 'forceRelease', name: ctx.lock.heldName, token: ctx.lock.heldToken + 1 + (n % 1_000_000), actor: 'fuzzer' }, expect: { kind: 'ok' } }],
  },
];

// ------------------------------------------------------------------ workers (the sample service's endpoints)

function workerTemplates(_ctx: FuzzContext, params: ParamValues): Template[] {
  switch (params.endpoint) {
    case 'echo':
      return [{ name: 'echo', body: { message: 'hi' }, quick: true }];
    case 'hash':
      return [{ name: 'hash', body: { data: 'abc', rounds: 50 } }];
    case 'sleep':
      return [{ name: 'sleep', body: { ms: 5 } }];
    default:
      return genericTemplates();
  }
}

const workerCases: SemanticCase[] = [
  {
    name: 'a hash longer than the request deadline',
    params: { endpoint: 'hash' },
    steps: (_ctx, n) => [{ body: { data: 'x', rounds: 1_000_000 }, deadlineMs: 20 + (n % 60), expect: codes('DEADLINE_EXCEEDED', 'TIMEOUT') }],
  },
  {
    name: 'a sleep past the request deadline',
    params: { endpoint: 'sleep' },
    steps: (_ctx, n) => [{ body: { ms: 200 + (n % 5000) }, deadlineMs: 20 + (n % 60), expect: codes('DEADLINE_EXCEEDED', 'TIMEOUT') }],
  },
];

// ------------------------------------------------------------------ registry

function registryTemplates(ctx: FuzzContext): Template[] {
  const fake = `fz-${ctx.nextSeq()}`;
  const info = { v: 1, id: fake, service: 'fuzzsvc', weight: 1, endpoints: ['x'], heartbeatIntervalMs: 1000, load: { inFlight: 0, served: 0, errors: 0 } };
  return [
    { name: 'announce of a worker that does not exist', body: { type: 'announce', ...info } },
    { name: 'heartbeat of a worker that does not exist', body: { type: 'heartbeat', ...info } },
    { name: 'deregister of a worker that does not exist', body: { type: 'deregister', v: 1, id: fake, service: 'fuzzsvc' } },
    { name: 'discover', body: { type: 'discover', v: 1, from: 'fuzzer' } },
  ];
}

/** Bodies for targets without a vocabulary of their own (new subjects, routes other than the service route). */
function genericTemplates(): Template[] {
  return [
    { name: 'empty object', body: {}, quick: true },
    { name: 'weight', body: { weight: 1 }, quick: true },
    { name: 'strategy', body: { strategy: 'round-robin' }, quick: true },
    { name: 'message', body: { message: 'hi', type: 'status' }, quick: true },
  ];
}

export function templatesFor(api: ApiName | undefined, ctx: FuzzContext, params: ParamValues): Template[] {
  switch (api) {
    case 'store':
      return storeTemplates(ctx);
    case 'lock':
      return lockTemplates(ctx);
    case 'lockAdmin':
      return lockAdminTemplates(ctx);
    case 'worker':
      return workerTemplates(ctx, params);
    case 'registry':
      return registryTemplates(ctx);
    case 'ping':
    case undefined:
      return genericTemplates();
  }
}

export function casesFor(api: ApiName | undefined): SemanticCase[] {
  switch (api) {
    case 'store':
      return storeCases;
    case 'lock':
      return lockCases;
    case 'lockAdmin':
      return lockAdminCases;
    case 'worker':
      return workerCases;
    default:
      return [];
  }
}
