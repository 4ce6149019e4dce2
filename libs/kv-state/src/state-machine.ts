import {
  type BatchedWriteOutcome,
  type Compare,
  type DeleteOp,
  type KeyValue,
  type KvError,
  type KvWriteOp,
  type KvWriteResult,
  type LeaseGrantOp,
  type LeaseInfo,
  type PutOp,
  RangeRequest,
  type RangeResult,
  Revision,
  type TxnOpResult,
  type TxnRequestOp,
  type WatchEvent,
  WatchFilter,
} from '@synod/protocol';
import { z } from 'zod';
import {
  type ClientSession,
  KvCommand,
  type KvApplyResult,
  type KvOutcome,
  KvRequestOutcome,
  RequestEnvelope,
} from './commands.js';
import { KvSnapshotError, type KvSnapshotCapture, type SnapshotBody, type SnapshotEntry, concatChunks, decodeSnapshot, encodeSnapshotChunks } from './snapshot.js';
import { SortedKeys } from './sorted-keys.js';

export interface KvStateMachineOptions {
  /** Most client sessions kept; beyond it the least recently used goes. Default 10,000. */
  maxSessions?: number;
  /** Most cached results per session; beyond it the lowest seq goes. Default 1,000. */
  maxResultsPerSession?: number;
}

export type KvReadResult<T> = ({ ok: true } & T) | { ok: false; error: KvError };
export type RangeAnswer = KvReadResult<{ result: RangeResult }>;
export type WatchAnswer = KvReadResult<{ events: WatchEvent[]; nextRevision: number }>;

/**
 * One version of a key. A delete is a tombstone: version 0, value '', createRevision and lease 0
 * (exactly the `kv` of its delete event). Records are never mutated once written.
 */
interface Rec {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

/**
 * A key's retained versions, oldest first: the one Rec itself while there is only one (most keys:
 * it saves an array per key), else an array. Arrays only grow (push) or are replaced, never edited,
 * so a snapshot capture may hold one with its length.
 */
type History = Rec | Rec[];

interface Lease {
  readonly id: number;
  readonly ttlMs: number;
  /** Keys attached now (order irrelevant: every use sorts). */
  readonly keys: Set<string>;
}

interface Session {
  /** Seqs below this are answered or forgotten: they get SESSION_STALE. */
  floor: number;
  readonly results: Map<number, KvRequestOutcome>;
}

const DEFAULT_MAX_SESSIONS = 10_000;
const DEFAULT_MAX_RESULTS_PER_SESSION = 1_000;

function isRevision(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

const WatchArgs = z.object({
  fromRevision: Revision,
  filter: WatchFilter,
  limit: z.int('limit must be an integer').positive('limit must be positive').optional(),
});

/**
 * The key-value store as a deterministic state machine: every replica applies the committed Raft
 * log to one of these, in order, and they all end in the same state. No I/O, no clock, no
 * randomness. Semantics are etcd v3's (see README.md). Results and events handed out are fresh
 * objects, except that a duplicate request gets its cached result again: treat results as read-only.
 */
export class KvStateMachine {
  /** Every retained version of every key, oldest first. */
  private readonly histories = new Map<string, History>();
  /** The keys of `histories`, sorted. */
  private readonly index = new SortedKeys();
  /** Every retained change (revision > compact revision) in apply order. */
  private log: Rec[] = [];
  /** Tombstones written by a lease expiry. */
  private readonly expiredTombstones = new Set<Rec>();
  private readonly leaseTable = new Map<number, Lease>();
  /** Bumped whenever a lease is granted, revoked or expired. */
  private leaseChanges = 0;
  /** Client sessions, least recently used first. */
  private readonly sessions = new Map<string, Session>();
  private rev = 0;
  private compactRev = 0;
  private applied = 0;
  private nextLeaseId = 1;
  private liveKeys = 0;
  private readonly maxSessions: number;
  private readonly maxResultsPerSession: number;
  /** Events of the command being applied. */
  private events: WatchEvent[] = [];
  /** Watch filters that passed their schema check here (see `watchFrom`). */
  private readonly checkedFilters = new WeakSet<object>();

  constructor(options: KvStateMachineOptions = {}) {
    this.maxSessions = positiveInt(options.maxSessions ?? DEFAULT_MAX_SESSIONS, 'maxSessions');
    this.maxResultsPerSession = positiveInt(
      options.maxResultsPerSession ?? DEFAULT_MAX_RESULTS_PER_SESSION,
      'maxResultsPerSession',
    );
  }

  /** The current revision: 0 for a store never written. */
  get revision(): number {
    return this.rev;
  }

  /** History at or below this revision is gone (0: nothing compacted). */
  get compactRevision(): number {
    return this.compactRev;
  }

  /** Index of the last applied log entry (0 before the first). */
  get appliedIndex(): number {
    return this.applied;
  }

  /** Keys that exist now. */
  get size(): number {
    return this.liveKeys;
  }

  /** Client sessions held. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Applies the log entry at `index`. Bad input is answered with an error value; only a
   * non-increasing `index` (a driver bug) throws.
   */
  apply(index: number, cmd: KvCommand): KvApplyResult {
    return this.applyChecked(index, cmd, false);
  }

  /**
   * `apply` for a command that is already the output of `KvCommand.parse` (or of a schema with the
   * same rules, such as the store's WriteRequest): the leader applying a client's write it
   * validated when the request arrived. Skips the second check; same state, same answer. A command
   * that was not validated so must go through `apply`: this one trusts it.
   */
  applyParsed(index: number, cmd: KvCommand): KvApplyResult {
    return this.applyChecked(index, cmd, true);
  }

  private applyChecked(index: number, cmd: KvCommand, validated: boolean): KvApplyResult {
    if (!Number.isSafeInteger(index) || index <= this.applied) {
      throw new RangeError(`log index ${index} does not follow the last applied index ${this.applied}`);
    }
    this.applied = index;
    this.events = [];
    const parsed = validated ? ({ success: true, data: cmd } as const) : KvCommand.safeParse(cmd);
    let outcome: KvOutcome;
    let duplicate = false;
    if (!parsed.success) {
      const error = invalid(parsed.error);
      const envelope = RequestEnvelope.safeParse(cmd);
      if (envelope.success) {
        ({ outcome, duplicate } = this.request(envelope.data.session, () => ({ ok: false, error })));
      } else {
        outcome = { ok: false, error };
      }
    } else {
      const c = parsed.data;
      switch (c.type) {
        case 'request':
          ({ outcome, duplicate } = this.request(c.session, () => this.write(index, c.op)));
          break;
        case 'leaseExpire':
          outcome = this.expireLeases(c.ids);
          break;
        case 'compact':
          outcome = this.compact(c.revision);
          break;
        case 'expireSessions': {
          let expired = 0;
          for (const id of c.clientIds) if (this.sessions.delete(id)) expired++;
          outcome = { ok: true, result: { op: 'expireSessions', expired } };
          break;
        }
        case 'noop':
          outcome = { ok: true, result: { op: 'noop' } };
          break;
      }
    }
    const result: KvApplyResult = { ...outcome, revision: this.rev, events: this.events };
    if (duplicate) result.duplicate = true;
    this.events = [];
    return result;
  }

  /** Reads at the current revision or, with `revision`, as the store was then. */
  range(req: RangeRequest): RangeAnswer {
    const parsed = RangeRequest.safeParse(req);
    if (!parsed.success) return { ok: false, error: invalid(parsed.error) };
    const r = parsed.data;
    const error = this.checkReadRevision(r.revision);
    if (error) return { ok: false, error };
    const at = r.revision ? r.revision : this.rev;
    return { ok: true, result: { revision: at, ...this.read(r) } };
  }

  /**
   * Events with revision >= `fromRevision` (0: from the next revision) on the keys `filter` names,
   * in revision order and, within a revision, in op order. `limit` is soft: a revision's events are
   * never split, so a reply holds whole revisions, at least one. Call again with `nextRevision`.
   */
  watchFrom(fromRevision: number, filter: WatchFilter, limit?: number): WatchAnswer {
    // A watch asks with the same filter object on every change: its schema check is done once.
    // The numbers are checked every time (cheap); a filter object must not be changed once used.
    let f = filter;
    if (!this.checkedFilters.has(filter) || !isRevision(fromRevision) || (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0))) {
      const parsed = WatchArgs.safeParse({ fromRevision, filter, limit });
      if (!parsed.success) return { ok: false, error: invalid(parsed.error) };
      f = parsed.data.filter;
      this.checkedFilters.add(filter);
    }
    const max = limit ?? Infinity;
    const from = fromRevision === 0 ? this.rev + 1 : fromRevision;
    if (from <= this.compactRev) return { ok: false, error: compacted(from, this.compactRev) };
    const events: WatchEvent[] = [];
    let nextRevision = Math.max(from, this.rev + 1);
    if (!f.prefix) {
      const stored = this.histories.get(f.key);
      if (stored) {
        const h = versions(stored);
        for (let i = firstAbove(h, from - 1); i < h.length; i++) {
          const rec = h[i] as Rec;
          if (events.length >= max) {
            nextRevision = rec.modRevision;
            break;
          }
          if (f.noPut && rec.version !== 0) continue;
          events.push(this.event(rec, f.prevKv ? prevOf(h, i) : undefined));
        }
      }
    } else {
      let lastRevision = -1;
      for (let i = firstAbove(this.log, from - 1); i < this.log.length; i++) {
        const rec = this.log[i] as Rec;
        if (!rec.key.startsWith(f.key)) continue;
        if (events.length >= max && rec.modRevision !== lastRevision) {
          nextRevision = rec.modRevision;
          break;
        }
        lastRevision = rec.modRevision;
        if (f.noPut && rec.version !== 0) continue;
        let prev: Rec | undefined;
        if (f.prevKv) {
          const h = versions(this.histories.get(rec.key) as History);
          prev = prevOf(h, firstAbove(h, rec.modRevision - 1));
        }
        events.push(this.event(rec, prev));
      }
    }
    return { ok: true, events, nextRevision };
  }

  /**
   * A number that changes whenever a lease is granted, revoked or expired (with `leaseTtls`, lets a
   * caller keep per-lease state in step without listing every lease after every write).
   */
  get leaseEpoch(): number {
    return this.leaseChanges;
  }

  /** Leases granted and not yet revoked or expired. */
  get leaseCount(): number {
    return this.leaseTable.size;
  }

  /** Every lease id with its TTL, unsorted and without copying attached keys. */
  *leaseTtls(): IterableIterator<[id: number, ttlMs: number]> {
    for (const l of this.leaseTable.values()) yield [l.id, l.ttlMs];
  }

  /** Every lease, by id, with its attached keys sorted. */
  leases(): LeaseInfo[] {
    return [...this.leaseTable.values()].sort((a, b) => a.id - b.id).map(leaseInfo);
  }

  lease(id: number): LeaseInfo | undefined {
    const lease = this.leaseTable.get(id);
    return lease && leaseInfo(lease);
  }

  /** The whole state, canonical: equal states give equal bytes. */
  snapshot(): Uint8Array {
    return concatChunks([...this.beginSnapshot().chunks()]);
  }

  /**
   * Captures the state as of now, cheaply, to be encoded later in pieces while this machine goes on
   * applying: a large store is written out without stopping writes and without its whole image in
   * memory. The capture holds references, not copies: versions are immutable, and the arrays that
   * hold them only grow (the capture remembers their lengths) or are replaced, never edited. The
   * bytes equal what `snapshot()` returned at the moment of capture.
   */
  beginSnapshot(): KvSnapshotCapture {
    const keys = [...this.index];
    const histories = keys.map((k) => this.histories.get(k) as History);
    const lengths = Uint32Array.from(histories, (h) => (Array.isArray(h) ? h.length : 1));
    const log = this.log;
    const logLength = log.length;
    const expired = new Set(this.expiredTombstones);
    const sessions: SnapshotBody['sessions'] = [];
    for (const [clientId, s] of this.sessions) {
      const results = [...s.results].sort((a, b) => a[0] - b[0]);
      // Parsing puts every cached outcome's fields in schema order, as restore will.
      sessions.push([clientId, s.floor, results.map(([seq, o]) => [seq, KvRequestOutcome.parse(o)])]);
    }
    const head: Omit<SnapshotBody, 'keys' | 'events' | 'leases' | 'sessions'> = {
      appliedIndex: this.applied,
      revision: this.rev,
      compactRevision: this.compactRev,
      nextLeaseId: this.nextLeaseId,
      maxSessions: this.maxSessions,
      maxResultsPerSession: this.maxResultsPerSession,
    };
    const leases: SnapshotBody['leases'] = this.leases().map((l) => [l.id, l.ttlMs]);
    function* parts(): Generator<string> {
      // JSON.stringify(body) of SnapshotBody, written out field by field in the same order.
      yield JSON.stringify(head).slice(0, -1) + ',"keys":[';
      for (let i = 0; i < keys.length; i++) {
        const h = histories[i] as History;
        const n = lengths[i] as number;
        const entries: SnapshotEntry[] = [];
        for (let j = 0; j < n; j++) {
          const r = Array.isArray(h) ? (h[j] as Rec) : h;
          entries.push(r.version === 0 ? [r.modRevision, expired.has(r) ? 1 : 0] : [r.modRevision, r.createRevision, r.version, r.lease, r.value]);
        }
        yield (i === 0 ? '' : ',') + JSON.stringify([keys[i], entries]);
      }
      yield '],"events":[';
      for (let i = 0; i < logLength; i++) {
        const r = log[i] as Rec;
        yield `${i === 0 ? '' : ','}${sortedIndexOf(keys, r.key)},${r.modRevision}`;
      }
      yield `],"leases":${JSON.stringify(leases)},"sessions":${JSON.stringify(sessions)}}`;
    }
    return { appliedIndex: this.applied, chunks: () => encodeSnapshotChunks(parts()) };
  }

  /** Rebuilds a machine from `snapshot()` bytes; throws KvSnapshotError on anything else. */
  static restore(bytes: Uint8Array): KvStateMachine {
    const body = decodeSnapshot(bytes);
    const fail: (what: string) => never = (what) => {
      throw new KvSnapshotError(`inconsistent snapshot: ${what}`);
    };
    if (body.compactRevision > body.revision) fail('compact revision above revision');
    const m = new KvStateMachine({ maxSessions: body.maxSessions, maxResultsPerSession: body.maxResultsPerSession });
    m.applied = body.appliedIndex;
    m.rev = body.revision;
    m.compactRev = body.compactRevision;
    m.nextLeaseId = body.nextLeaseId;
    for (const [id, ttlMs] of body.leases) {
      if (m.leaseTable.has(id)) fail(`lease ${id} listed twice`);
      m.leaseTable.set(id, { id, ttlMs, keys: new Set() });
    }
    let retained = 0;
    let previousKey: string | undefined;
    for (const [key, entries] of body.keys) {
      if (previousKey !== undefined && !(previousKey < key)) fail(`keys out of order at ${JSON.stringify(key)}`);
      previousKey = key;
      const h: Rec[] = [];
      for (const e of entries) {
        const prev = h[h.length - 1];
        const mod = e[0];
        if (mod > body.revision) fail(`key ${JSON.stringify(key)} has a version above the revision`);
        if (prev && !(prev.modRevision < mod)) fail(`versions of ${JSON.stringify(key)} out of order`);
        if (prev && mod <= body.compactRevision) fail(`key ${JSON.stringify(key)} keeps compacted history`);
        if (mod > body.compactRevision) retained++;
        if (e.length === 2) {
          if (!prev || prev.version === 0) fail(`key ${JSON.stringify(key)} has a delete of nothing`);
          const t: Rec = { key, value: '', createRevision: 0, modRevision: mod, version: 0, lease: 0 };
          if (e[1] === 1) m.expiredTombstones.add(t);
          h.push(t);
        } else {
          const [, createRevision, version, lease, value] = e;
          const consistent =
            prev === undefined
              ? createRevision <= mod && createRevision > 0
              : prev.version === 0
                ? createRevision === mod && version === 1
                : createRevision === prev.createRevision && version === prev.version + 1;
          if (!consistent) fail(`versions of ${JSON.stringify(key)} do not chain`);
          h.push({ key, value, createRevision, modRevision: mod, version, lease });
        }
      }
      const last = h[h.length - 1] as Rec;
      if (last.version > 0) {
        m.liveKeys++;
        if (last.lease !== 0) {
          const lease = m.leaseTable.get(last.lease);
          if (!lease) fail(`key ${JSON.stringify(key)} is attached to the unknown lease ${last.lease}`);
          lease?.keys.add(key);
        }
      }
      // slice(): an array of exactly the versions, without push's spare capacity.
      m.histories.set(key, h.length === 1 ? last : h.slice());
      m.index.add(key);
    }
    const { events } = body;
    if (events.length !== 2 * retained) fail('the change log does not match the retained history');
    let lastRevision = body.compactRevision + 1;
    const seen = new Set<Rec>();
    for (let i = 0; i < events.length; i += 2) {
      const entry = body.keys[events[i] as number];
      const mod = events[i + 1] as number;
      if (!entry) fail('the change log names an unknown key');
      const h = versions(m.histories.get((entry as [string, unknown])[0]) as History);
      const rec = h[firstAbove(h, mod - 1)];
      if (!rec || rec.modRevision !== mod || seen.has(rec)) fail('the change log names a missing version');
      if (mod < lastRevision) fail('the change log is out of order');
      lastRevision = mod;
      seen.add(rec as Rec);
      m.log.push(rec as Rec);
    }
    for (const [clientId, floor, results] of body.sessions) {
      if (m.sessions.has(clientId)) fail(`session ${JSON.stringify(clientId)} listed twice`);
      if (results.length > body.maxResultsPerSession) fail(`session ${JSON.stringify(clientId)} holds too many results`);
      const session: Session = { floor, results: new Map() };
      for (const [seq, outcome] of results) {
        if (seq < floor || session.results.has(seq)) fail(`session ${JSON.stringify(clientId)} has a bad seq ${seq}`);
        session.results.set(seq, outcome);
      }
      m.sessions.set(clientId, session);
    }
    if (m.sessions.size > body.maxSessions) fail('more sessions than maxSessions');
    return m;
  }

  // ---- requests and sessions ----

  /** Exactly-once: answers a retried seq from the session, refuses a forgotten one, else runs it. */
  private request(s: ClientSession, run: () => KvOutcome): { outcome: KvOutcome; duplicate: boolean } {
    const ackBelow = s.ackBelow ?? 0;
    let session = this.sessions.get(s.clientId);
    if (session) {
      // Most recently used goes last.
      this.sessions.delete(s.clientId);
      this.sessions.set(s.clientId, session);
    } else {
      if (ackBelow > 1) {
        // The client had answers from a session that is gone (expired or evicted): a retry from it
        // might be applied twice, so it must start over with a new client id.
        return { outcome: stale(`client ${JSON.stringify(s.clientId)} has no session (expired or evicted)`), duplicate: false };
      }
      session = { floor: 0, results: new Map() };
      this.sessions.set(s.clientId, session);
      if (this.sessions.size > this.maxSessions) {
        const oldest = this.sessions.keys().next().value as string;
        this.sessions.delete(oldest);
      }
    }
    if (ackBelow > session.floor) {
      session.floor = ackBelow;
      for (const seq of session.results.keys()) if (seq < ackBelow) session.results.delete(seq);
    }
    if (s.seq < session.floor) {
      return {
        outcome: stale(
          `seq ${s.seq} of client ${JSON.stringify(s.clientId)} was already answered (session floor ${session.floor})`,
        ),
        duplicate: false,
      };
    }
    const cached = session.results.get(s.seq);
    if (cached) return { outcome: cached, duplicate: true };
    const outcome = run() as KvRequestOutcome;
    session.results.set(s.seq, outcome);
    if (session.results.size > this.maxResultsPerSession) {
      let lowest = Infinity;
      for (const seq of session.results.keys()) lowest = Math.min(lowest, seq);
      session.results.delete(lowest);
      session.floor = Math.max(session.floor, lowest + 1);
    }
    return { outcome, duplicate: false };
  }

  private write(index: number, op: KvWriteOp): KvOutcome {
    switch (op.op) {
      case 'put': {
        const error = this.checkPut(op);
        if (error) return { ok: false, error };
        const rev = this.rev + 1;
        const prevKv = this.put(op, rev);
        this.rev = rev;
        return ok({ op: 'put', revision: rev, ...(op.prevKv && prevKv ? { prevKv: copy(prevKv) } : {}) });
      }
      case 'delete': {
        const rev = this.rev + 1;
        const deleted = this.deleteRange(op, rev);
        if (deleted.length > 0) this.rev = rev;
        const prevKvs = op.prevKv ? { prevKvs: deleted.map(copy) } : {};
        return ok({ op: 'delete', revision: this.rev, deleted: deleted.length, ...prevKvs });
      }
      case 'txn':
        return this.txn(op);
      case 'leaseGrant':
        return this.grant(index, op);
      case 'leaseRevoke': {
        const lease = this.leaseTable.get(op.id);
        if (!lease) return { ok: false, error: leaseNotFound(op.id) };
        this.leaseTable.delete(op.id);
        this.leaseChanges++;
        const deleted = this.deleteKeys([...lease.keys].sort(), undefined);
        return ok({ op: 'leaseRevoke', revision: this.rev, deleted });
      }
      case 'batch': {
        // One after another, as separate requests would be: each its own revision and outcome.
        const results = op.ops.map((o) => this.write(index, o) as BatchedWriteOutcome);
        return ok({ op: 'batch', revision: this.rev, results });
      }
    }
  }

  private txn(op: TxnRequestOp): KvOutcome {
    const succeeded = op.compare.every((c) => this.compare(c));
    const branch = succeeded ? op.success : op.failure;
    // Every check first, against the state before the txn: a branch writes no key twice, so no op
    // can change what another op's check sees. Then nothing can fail half-way.
    for (const o of branch) {
      const error = o.op === 'put' ? this.checkPut(o) : o.op === 'range' ? this.checkReadRevision(o.revision) : undefined;
      if (error) return { ok: false, error };
    }
    const rev = this.rev + 1;
    let wrote = false;
    const results: TxnOpResult[] = [];
    /** Results whose revision is the txn's, known only at the end. */
    const atTxnRevision: { revision: number }[] = [];
    for (const o of branch) {
      if (o.op === 'put') {
        const prevKv = this.put(o, rev);
        wrote = true;
        const r: TxnOpResult = { op: 'put', revision: 0, ...(o.prevKv && prevKv ? { prevKv: copy(prevKv) } : {}) };
        results.push(r);
        atTxnRevision.push(r);
      } else if (o.op === 'delete') {
        const deleted = this.deleteRange(o, rev);
        if (deleted.length > 0) wrote = true;
        const prevKvs = o.prevKv ? { prevKvs: deleted.map(copy) } : {};
        const r: TxnOpResult = { op: 'delete', revision: 0, deleted: deleted.length, ...prevKvs };
        results.push(r);
        atTxnRevision.push(r);
      } else {
        const r: TxnOpResult = { op: 'range', revision: o.revision ? o.revision : 0, ...this.read(o) };
        results.push(r);
        if (!o.revision) atTxnRevision.push(r);
      }
    }
    if (wrote) this.rev = rev;
    for (const r of atTxnRevision) r.revision = this.rev;
    return ok({ op: 'txn', revision: this.rev, succeeded, results });
  }

  private grant(index: number, op: LeaseGrantOp): KvOutcome {
    let id = op.id;
    if (id === undefined) {
      // Deterministic and never reused by later grants: at least the log index, skipping ids taken.
      id = Math.max(index, this.nextLeaseId);
      while (this.leaseTable.has(id)) id++;
      this.nextLeaseId = id + 1;
    } else if (this.leaseTable.has(id)) {
      return { ok: false, error: { code: 'LEASE_EXISTS', message: `lease ${id} already exists` } };
    }
    this.leaseTable.set(id, { id, ttlMs: op.ttlMs, keys: new Set() });
    this.leaseChanges++;
    return ok({ op: 'leaseGrant', id, ttlMs: op.ttlMs });
  }

  private expireLeases(ids: readonly number[]): KvOutcome {
    const expired: number[] = [];
    const keys: string[] = [];
    for (const id of ids) {
      const lease = this.leaseTable.get(id);
      if (!lease) continue;
      this.leaseTable.delete(id);
      this.leaseChanges++;
      expired.push(id);
      keys.push(...[...lease.keys].sort());
    }
    const deleted = this.deleteKeys(keys, 'lease-expired');
    return { ok: true, result: { op: 'leaseExpire', revision: this.rev, deleted, expired } };
  }

  private compact(revision: number): KvOutcome {
    if (revision > this.rev) return { ok: false, error: futureRevision(revision, this.rev) };
    if (revision <= this.compactRev) return { ok: false, error: compacted(revision, this.compactRev) };
    // Only a key changed in (compactRev, revision] can hold history this compaction drops: every
    // other key keeps at most one version at or below compactRev (a live one) and versions above
    // `revision`. Those keys are the ones the change log names up to `revision`, so the work is
    // in proportion to the history dropped, not to the size of the store.
    const end = firstAbove(this.log, revision);
    const touched = new Set<string>();
    for (let i = 0; i < end; i++) touched.add((this.log[i] as Rec).key);
    for (const key of touched) {
      const stored = this.histories.get(key);
      if (stored === undefined) continue;
      if (!Array.isArray(stored)) {
        // One version: it goes only if it is a delete at or below `revision`.
        if (stored.modRevision > revision || stored.version !== 0) continue;
        this.expiredTombstones.delete(stored);
        this.histories.delete(key);
        this.index.delete(key);
        continue;
      }
      const h = stored;
      if ((h[0] as Rec).modRevision > revision) continue;
      // Keep the newest version at or below `revision` unless it is a delete: later reads need it.
      const newest = firstAbove(h, revision) - 1;
      const drop = (h[newest] as Rec).version === 0 ? newest + 1 : newest;
      for (let i = 0; i < drop; i++) this.expiredTombstones.delete(h[i] as Rec);
      if (drop === h.length) {
        this.histories.delete(key);
        this.index.delete(key);
      } else if (drop > 0) {
        // A new array (or the one Rec left), not splice: a snapshot being encoded may hold the old one.
        this.histories.set(key, drop === h.length - 1 ? (h[drop] as Rec) : h.slice(drop));
      }
    }
    this.log = this.log.slice(end);
    this.compactRev = revision;
    return { ok: true, result: { op: 'compact', revision: this.rev, compactRevision: revision } };
  }

  // ---- writes ----

  private checkPut(op: PutOp): KvError | undefined {
    if (op.lease && !this.leaseTable.has(op.lease)) return leaseNotFound(op.lease);
    if ((op.ignoreValue || op.ignoreLease) && !this.current(op.key)) {
      return {
        code: 'KEY_NOT_FOUND',
        message: `key ${JSON.stringify(op.key)} does not exist (ignoreValue and ignoreLease need an existing key)`,
      };
    }
    return undefined;
  }

  /** Writes a checked put at `rev`; returns the version it replaced. */
  private put(op: PutOp, rev: number): Rec | undefined {
    const h = this.histories.get(op.key);
    const cur = h && live(newest(h));
    const lease = op.ignoreLease && cur ? cur.lease : (op.lease ?? 0);
    const rec: Rec = {
      key: op.key,
      value: op.ignoreValue && cur ? cur.value : op.value,
      createRevision: cur ? cur.createRevision : rev,
      modRevision: rev,
      version: cur ? cur.version + 1 : 1,
      lease,
    };
    if (h) {
      this.addVersion(h, rec);
    } else {
      this.histories.set(op.key, rec);
      this.index.add(op.key);
    }
    this.log.push(rec);
    if (!cur) this.liveKeys++;
    if (cur && cur.lease !== lease && cur.lease !== 0) this.leaseTable.get(cur.lease)?.keys.delete(op.key);
    if (lease !== 0) this.leaseTable.get(lease)?.keys.add(op.key);
    this.events.push(cur ? { type: 'put', kv: copy(rec), prevKv: copy(cur) } : { type: 'put', kv: copy(rec) });
    return cur;
  }

  /** Deletes what `op` names at `rev`; returns the versions deleted, in key order. */
  private deleteRange(op: DeleteOp, rev: number): Rec[] {
    const victims: Rec[] = [];
    if (op.prefix) {
      for (const key of this.index.from(op.key)) {
        if (!key.startsWith(op.key)) break;
        const cur = this.current(key);
        if (cur) victims.push(cur);
      }
    } else {
      const cur = this.current(op.key);
      if (cur) victims.push(cur);
    }
    for (const cur of victims) this.tombstone(cur, rev, undefined);
    return victims;
  }

  /** Deletes existing `keys` at one new revision (none if `keys` is empty); returns how many. */
  private deleteKeys(keys: readonly string[], cause: 'lease-expired' | undefined): number {
    if (keys.length === 0) return 0;
    const rev = this.rev + 1;
    for (const key of keys) this.tombstone(this.current(key) as Rec, rev, cause);
    this.rev = rev;
    return keys.length;
  }

  private tombstone(cur: Rec, rev: number, cause: 'lease-expired' | undefined): void {
    const t: Rec = { key: cur.key, value: '', createRevision: 0, modRevision: rev, version: 0, lease: 0 };
    this.addVersion(this.histories.get(cur.key) as History, t);
    this.log.push(t);
    this.liveKeys--;
    if (cur.lease !== 0) this.leaseTable.get(cur.lease)?.keys.delete(cur.key);
    if (cause) this.expiredTombstones.add(t);
    this.events.push(this.event(t, cur));
  }

  // ---- reads ----

  private current(key: string): Rec | undefined {
    const h = this.histories.get(key);
    return h && live(newest(h));
  }

  /** Appends a version to a key that has some. */
  private addVersion(h: History, rec: Rec): void {
    // A literal holds exactly two elements; [] then push would reserve 17.
    if (Array.isArray(h)) h.push(rec);
    else this.histories.set(rec.key, [h, rec]);
  }

  private compare(c: Compare): boolean {
    const cur = this.current(c.key);
    switch (c.target) {
      case 'exists': {
        const exists = cur !== undefined;
        return c.op === '=' ? exists === c.value : exists !== c.value;
      }
      case 'value':
        // As in etcd: a value compare on an absent key is false, whatever the operator.
        return cur !== undefined && holds(cur.value, c.op, c.value);
      default:
        return holds(cur ? cur[c.target] : 0, c.op, c.value);
    }
  }

  private checkReadRevision(revision: number | undefined): KvError | undefined {
    if (!revision) return undefined;
    if (revision > this.rev) return futureRevision(revision, this.rev);
    if (revision <= this.compactRev) return compacted(revision, this.compactRev);
    return undefined;
  }

  /** A checked range: at `r.revision`, or at the latest version of each key (inside a txn: its writes so far). */
  private read(r: RangeRequest): { kvs: KeyValue[]; count: number; more: boolean } {
    const at = r.revision ? r.revision : undefined;
    const matched: Rec[] = [];
    const visit = (key: string): void => {
      const h = this.histories.get(key) as History;
      const rec = at === undefined ? live(newest(h)) : Array.isArray(h) ? versionAt(h, at) : h.modRevision <= at ? live(h) : undefined;
      if (rec) matched.push(rec);
    };
    if (r.prefix) {
      const keys = r.after !== undefined && r.after >= r.key ? this.index.from(r.after, true) : this.index.from(r.key);
      for (const key of keys) {
        if (!key.startsWith(r.key)) break;
        visit(key);
      }
    } else if ((r.after === undefined || r.key > r.after) && this.histories.has(r.key)) {
      visit(r.key);
    }
    const count = matched.length;
    if (r.countOnly) return { kvs: [], count, more: false };
    const by = r.sortBy ?? 'key';
    const desc = r.order === 'desc';
    if (by !== 'key') {
      const sign = desc ? -1 : 1;
      // Stable on key order: ties stay by key, ascending.
      matched.sort((a, b) => sign * (a[by] - b[by]));
    } else if (desc) {
      matched.reverse();
    }
    const limit = r.limit ? r.limit : Infinity;
    const kvs: KeyValue[] = [];
    for (let i = 0; i < matched.length && i < limit; i++) {
      const rec = matched[i] as Rec;
      kvs.push(r.keysOnly ? { ...copy(rec), value: '' } : copy(rec));
    }
    return { kvs, count, more: count > kvs.length };
  }

  private event(rec: Rec, prev: Rec | undefined): WatchEvent {
    const e: WatchEvent = { type: rec.version === 0 ? 'delete' : 'put', kv: copy(rec) };
    if (prev) e.prevKv = copy(prev);
    if (this.expiredTombstones.has(rec)) e.cause = 'lease-expired';
    return e;
  }
}

// ---- helpers ----

function positiveInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

function ok(result: KvWriteResult): KvOutcome {
  return { ok: true, result };
}

function copy(r: Rec): KeyValue {
  return {
    key: r.key,
    value: r.value,
    createRevision: r.createRevision,
    modRevision: r.modRevision,
    version: r.version,
    lease: r.lease,
  };
}

function newest(h: History): Rec {
  return Array.isArray(h) ? (h[h.length - 1] as Rec) : h;
}

/** The versions as an array (a new one-element array for a single version). */
function versions(h: History): readonly Rec[] {
  return Array.isArray(h) ? h : [h];
}

function live(r: Rec): Rec | undefined {
  return r.version === 0 ? undefined : r;
}

/** First index whose record's modRevision is > `revision` (records sorted by modRevision). */
function firstAbove(recs: readonly Rec[], revision: number): number {
  let lo = 0;
  let hi = recs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((recs[mid] as Rec).modRevision <= revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The key as it was at `revision`, or undefined if it did not exist then. */
function versionAt(h: readonly Rec[], revision: number): Rec | undefined {
  const i = firstAbove(h, revision) - 1;
  return i < 0 ? undefined : live(h[i] as Rec);
}

/** The live version before `h[i]`, if any. */
function prevOf(h: readonly Rec[], i: number): Rec | undefined {
  return i > 0 ? live(h[i - 1] as Rec) : undefined;
}

function holds<T extends number | string>(actual: T, op: Compare['op'], expected: T): boolean {
  switch (op) {
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '<':
      return actual < expected;
    case '>':
      return actual > expected;
  }
}

function leaseInfo(l: Lease): LeaseInfo {
  return { id: l.id, ttlMs: l.ttlMs, keys: [...l.keys].sort() };
}

function invalid(error: z.ZodError): KvError {
  return { code: 'INVALID', message: z.prettifyError(error) };
}

function stale(message: string): KvOutcome {
  return { ok: false, error: { code: 'SESSION_STALE', message } };
}

function leaseNotFound(id: number): KvError {
  return { code: 'LEASE_NOT_FOUND', message: `lease ${id} not found` };
}

function compacted(revision: number, compactRevision: number): KvError {
  return {
    code: 'COMPACTED',
    message: `revision ${revision} is compacted (compact revision ${compactRevision})`,
    compactRevision,
  };
}

function futureRevision(revision: number, current: number): KvError {
  return {
    code: 'FUTURE_REVISION',
    message: `revision ${revision} is ahead of the current revision ${current}`,
    revision: current,
  };
}

/** Position of `key` in `keys` (sorted, and holding it). */
function sortedIndexOf(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
