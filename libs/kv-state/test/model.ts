import {
  type BatchedWriteOutcome,
  type Compare,
  type KeyValue,
  type KvError,
  type KvWriteOp,
  type KvWriteResult,
  type RangeRequest,
  type RangeResult,
  type TxnOp,
  type TxnOpResult,
  type WatchEvent,
  type WatchFilter,
  RangeRequest as RangeRequestSchema,
} from '@synod/protocol';
import { type KvApplyResult, KvCommand, type KvOutcome, RequestEnvelope } from '../src/index.js';

type State = Map<string, KeyValue>;
type Fail = { ok: false; error: KvError };

/**
 * The naive reference: a full copy of the store for every revision, events as a flat list, leases
 * as a map of TTLs (their keys found by scanning), sessions as an array in LRU order. Slow and
 * obviously right, so the real machine can be checked against it.
 */
export class ModelKv {
  /** states[r]: every key at revision r. */
  private states: State[] = [new Map()];
  private events: WatchEvent[] = [];
  private compactRev = 0;
  private leases = new Map<number, number>();
  private nextLeaseId = 1;
  private sessions: { clientId: string; floor: number; results: Map<number, KvOutcome> }[] = [];
  private applied = 0;

  constructor(
    private readonly maxSessions = 10_000,
    private readonly maxResults = 1_000,
  ) {}

  get revision(): number {
    return this.states.length - 1;
  }

  leaseIds(): number[] {
    return [...this.leases.keys()].sort((a, b) => a - b);
  }

  leaseView(): { id: number; ttlMs: number; keys: string[] }[] {
    const now = this.states[this.revision] as State;
    return this.leaseIds().map((id) => ({
      id,
      ttlMs: this.leases.get(id) as number,
      keys: [...now.values()].filter((kv) => kv.lease === id).map((kv) => kv.key).sort(),
    }));
  }

  get size(): number {
    return (this.states[this.revision] as State).size;
  }

  apply(index: number, cmd: KvCommand): KvApplyResult {
    if (index <= this.applied) throw new Error('index must increase');
    this.applied = index;
    const before = this.events.length;
    const parsed = KvCommand.safeParse(cmd);
    let outcome: KvOutcome;
    let duplicate = false;
    if (!parsed.success) {
      const env = RequestEnvelope.safeParse(cmd);
      const error: KvError = { code: 'INVALID', message: '' };
      if (env.success) ({ outcome, duplicate } = this.session(env.data.session, () => ({ ok: false, error })));
      else outcome = { ok: false, error };
    } else {
      const c = parsed.data;
      if (c.type === 'request') ({ outcome, duplicate } = this.session(c.session, () => this.write(index, c.op)));
      else if (c.type === 'noop') outcome = { ok: true, result: { op: 'noop' } };
      else if (c.type === 'expireSessions') {
        const gone = this.sessions.filter((s) => c.clientIds.includes(s.clientId));
        this.sessions = this.sessions.filter((s) => !c.clientIds.includes(s.clientId));
        outcome = { ok: true, result: { op: 'expireSessions', expired: gone.length } };
      } else if (c.type === 'compact') {
        if (c.revision > this.revision) outcome = { ok: false, error: { code: 'FUTURE_REVISION', message: '', revision: this.revision } };
        else if (c.revision <= this.compactRev) {
          outcome = { ok: false, error: { code: 'COMPACTED', message: '', compactRevision: this.compactRev } };
        } else {
          this.compactRev = c.revision;
          outcome = { ok: true, result: { op: 'compact', revision: this.revision, compactRevision: c.revision } };
        }
      } else {
        const expired: number[] = [];
        const doomed: string[] = [];
        const now = this.states[this.revision] as State;
        for (const id of c.ids) {
          if (!this.leases.has(id)) continue;
          this.leases.delete(id);
          expired.push(id);
          doomed.push(...[...now.values()].filter((kv) => kv.lease === id).map((kv) => kv.key).sort());
        }
        const next = new Map(now);
        const rev = this.revision + 1;
        for (const key of doomed) this.remove(next, key, rev, true);
        if (doomed.length > 0) this.states.push(next);
        outcome = { ok: true, result: { op: 'leaseExpire', revision: this.revision, deleted: doomed.length, expired } };
      }
    }
    const result: KvApplyResult = { ...outcome, revision: this.revision, events: this.events.slice(before) };
    if (duplicate) result.duplicate = true;
    return result;
  }

  private session(
    s: { clientId: string; seq: number; ackBelow?: number | undefined },
    run: () => KvOutcome,
  ): { outcome: KvOutcome; duplicate: boolean } {
    const stale: KvOutcome = { ok: false, error: { code: 'SESSION_STALE', message: '' } };
    const ack = s.ackBelow ?? 0;
    let session = this.sessions.find((x) => x.clientId === s.clientId);
    if (!session) {
      if (ack > 1) return { outcome: stale, duplicate: false };
      session = { clientId: s.clientId, floor: 0, results: new Map() };
      this.sessions.push(session);
      if (this.sessions.length > this.maxSessions) this.sessions.shift();
    } else {
      this.sessions = [...this.sessions.filter((x) => x !== session), session];
    }
    session.floor = Math.max(session.floor, ack);
    for (const seq of [...session.results.keys()]) if (seq < session.floor) session.results.delete(seq);
    if (s.seq < session.floor) return { outcome: stale, duplicate: false };
    const cached = session.results.get(s.seq);
    if (cached) return { outcome: cached, duplicate: true };
    const outcome = run();
    session.results.set(s.seq, outcome);
    if (session.results.size > this.maxResults) {
      const lowest = Math.min(...session.results.keys());
      session.results.delete(lowest);
      session.floor = Math.max(session.floor, lowest + 1);
    }
    return { outcome, duplicate: false };
  }

  private write(index: number, op: KvWriteOp): KvOutcome {
    if (op.op === 'batch') {
      const results = op.ops.map((o) => this.write(index, o) as BatchedWriteOutcome);
      return { ok: true, result: { op: 'batch', revision: this.revision, results } };
    }
    if (op.op === 'leaseGrant') {
      let id = op.id;
      if (id === undefined) {
        id = Math.max(index, this.nextLeaseId);
        while (this.leases.has(id)) id++;
        this.nextLeaseId = id + 1;
      } else if (this.leases.has(id)) return { ok: false, error: { code: 'LEASE_EXISTS', message: '' } };
      this.leases.set(id, op.ttlMs);
      return { ok: true, result: { op: 'leaseGrant', id, ttlMs: op.ttlMs } };
    }
    if (op.op === 'leaseRevoke') {
      if (!this.leases.has(op.id)) return { ok: false, error: { code: 'LEASE_NOT_FOUND', message: '' } };
      this.leases.delete(op.id);
      const now = this.states[this.revision] as State;
      const doomed = [...now.values()].filter((kv) => kv.lease === op.id).map((kv) => kv.key).sort();
      const next = new Map(now);
      for (const key of doomed) this.remove(next, key, this.revision + 1, false);
      if (doomed.length > 0) this.states.push(next);
      return { ok: true, result: { op: 'leaseRevoke', revision: this.revision, deleted: doomed.length } };
    }
    // put, delete and txn: run on a copy; keep it only if every op succeeded and something changed.
    const eventsBefore = this.events.length;
    const next = new Map(this.states[this.revision] as State);
    const rev = this.revision + 1;
    let changed = false;
    const results: (TxnOpResult & { atTxn: boolean })[] = [];
    let succeeded = true;
    let ops: TxnOp[];
    if (op.op === 'txn') {
      succeeded = op.compare.every((c) => this.holds(this.states[this.revision] as State, c));
      ops = succeeded ? op.success : op.failure;
    } else {
      ops = [op];
    }
    for (const o of ops) {
      const r = this.runOp(next, o, rev);
      if ('error' in r) {
        this.events.length = eventsBefore;
        return r;
      }
      if (r.changed) changed = true;
      results.push(r.result);
    }
    if (changed) this.states.push(next);
    const fixed = results.map(({ atTxn, ...r }) => (atTxn ? { ...r, revision: this.revision } : r)) as TxnOpResult[];
    let result: KvWriteResult;
    if (op.op === 'txn') result = { op: 'txn', revision: this.revision, succeeded, results: fixed };
    else result = fixed[0] as KvWriteResult;
    return { ok: true, result };
  }

  private runOp(
    state: State,
    o: TxnOp,
    rev: number,
  ): Fail | { changed: boolean; result: TxnOpResult & { atTxn: boolean } } {
    if (o.op === 'put') {
      if (o.lease && !this.leases.has(o.lease)) return { ok: false, error: { code: 'LEASE_NOT_FOUND', message: '' } };
      const cur = state.get(o.key);
      if ((o.ignoreValue || o.ignoreLease) && !cur) return { ok: false, error: { code: 'KEY_NOT_FOUND', message: '' } };
      const kv: KeyValue = {
        key: o.key,
        value: o.ignoreValue && cur ? cur.value : o.value,
        createRevision: cur ? cur.createRevision : rev,
        modRevision: rev,
        version: cur ? cur.version + 1 : 1,
        lease: o.ignoreLease && cur ? cur.lease : (o.lease ?? 0),
      };
      state.set(o.key, kv);
      this.events.push(cur ? { type: 'put', kv, prevKv: cur } : { type: 'put', kv });
      const result: TxnOpResult & { atTxn: boolean } = { op: 'put', revision: 0, atTxn: true };
      if (o.prevKv && cur) result.prevKv = cur;
      return { changed: true, result };
    }
    if (o.op === 'delete') {
      const victims = [...state.values()]
        .filter((kv) => (o.prefix ? kv.key.startsWith(o.key) : kv.key === o.key))
        .sort((a, b) => (a.key < b.key ? -1 : 1));
      for (const kv of victims) this.remove(state, kv.key, rev, false);
      const result: TxnOpResult & { atTxn: boolean } = { op: 'delete', revision: 0, deleted: victims.length, atTxn: true };
      if (o.prevKv) result.prevKvs = victims;
      return { changed: victims.length > 0, result };
    }
    const read = this.read(o, state);
    if (!read.ok) return read;
    return { changed: false, result: { op: 'range', ...read.result, atTxn: !o.revision } };
  }

  private remove(state: State, key: string, rev: number, expired: boolean): void {
    const prev = state.get(key) as KeyValue;
    state.delete(key);
    const e: WatchEvent = {
      type: 'delete',
      kv: { key, value: '', createRevision: 0, modRevision: rev, version: 0, lease: 0 },
      prevKv: prev,
    };
    if (expired) e.cause = 'lease-expired';
    this.events.push(e);
  }

  private holds(state: State, c: Compare): boolean {
    const kv = state.get(c.key);
    const cmp = <T>(a: T, b: T) =>
      c.op === '=' ? a === b : c.op === '!=' ? a !== b : c.op === '<' ? a < b : a > b;
    if (c.target === 'exists') return cmp(kv !== undefined, c.value);
    if (c.target === 'value') return kv !== undefined && cmp(kv.value, c.value);
    return cmp(kv ? kv[c.target] : 0, c.value);
  }

  range(req: RangeRequest): { ok: true; result: RangeResult } | Fail {
    if (!RangeRequestSchema.safeParse(req).success) return { ok: false, error: { code: 'INVALID', message: '' } };
    return this.read(req, undefined);
  }

  /** `working`: a txn's state so far (read when no revision is given). */
  private read(req: RangeRequest, working: State | undefined): { ok: true; result: RangeResult } | Fail {
    const rev = req.revision ? req.revision : this.revision;
    if (req.revision) {
      if (req.revision > this.revision) return { ok: false, error: { code: 'FUTURE_REVISION', message: '', revision: this.revision } };
      if (req.revision <= this.compactRev) {
        return { ok: false, error: { code: 'COMPACTED', message: '', compactRevision: this.compactRev } };
      }
    }
    const state = !req.revision && working ? working : (this.states[rev] as State);
    let kvs = [...state.values()]
      .filter((kv) => (req.prefix ? kv.key.startsWith(req.key) : kv.key === req.key))
      .filter((kv) => req.after === undefined || kv.key > req.after)
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const count = kvs.length;
    if (req.countOnly) return { ok: true, result: { revision: rev, kvs: [], count, more: false } };
    const by = req.sortBy ?? 'key';
    const sign = req.order === 'desc' ? -1 : 1;
    kvs.sort((a, b) => {
      if (by === 'key') return sign * (a.key < b.key ? -1 : 1);
      return sign * (a[by] - b[by]) || (a.key < b.key ? -1 : 1);
    });
    if (req.limit) kvs = kvs.slice(0, req.limit);
    if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: '' }));
    return { ok: true, result: { revision: rev, kvs, count, more: kvs.length < count } };
  }

  watchFrom(fromRevision: number, filter: WatchFilter, limit?: number): { ok: true; events: WatchEvent[]; nextRevision: number } | Fail {
    const from = fromRevision === 0 ? this.revision + 1 : fromRevision;
    if (from <= this.compactRev) return { ok: false, error: { code: 'COMPACTED', message: '', compactRevision: this.compactRev } };
    const matching = this.events.filter(
      (e) => e.kv.modRevision >= from && (filter.prefix ? e.kv.key.startsWith(filter.key) : e.kv.key === filter.key),
    );
    const out: WatchEvent[] = [];
    let nextRevision = Math.max(from, this.revision + 1);
    for (const e of matching) {
      const last = out[out.length - 1];
      if (limit !== undefined && out.length >= limit && last && last.kv.modRevision !== e.kv.modRevision) {
        nextRevision = e.kv.modRevision;
        break;
      }
      const { prevKv, ...rest } = e;
      out.push(filter.prevKv && prevKv ? { ...rest, prevKv } : rest);
    }
    return { ok: true, events: out, nextRevision };
  }
}
