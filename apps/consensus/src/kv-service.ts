import { randomBytes } from 'node:crypto';
import {
  StoreRequest,
  SynodError,
  kvError,
  type KvError,
  type KvWriteOp,
  minLeaseTtlMs,
  subjects,
  watchInboxAllowed,
  type StatusResult,
  type WatchFilter,
  type WatchMessage,
} from '@synod/protocol';
import { type KvCommand, KvStateMachine, type KvApplyResult } from '@synod/kv-state';
import type { CommittedEntry } from '@synod/replog';
import { EndpointServer, type Logger, type NatsConnection, type Registry, Counter } from '@synod/service-kit';
import type { ReplicaHost, StateMachine } from './engine-host.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface KvServiceOptions {
  nc: NatsConnection;
  namespace: string;
  id: string;
  log: Logger;
  metrics: Registry;
  /** Largest request accepted, in bytes. */
  maxRequestBytes: number;
  /** How often the leader looks for expired leases and idle sessions, in ms. */
  sweepMs: number;
  /** Sessions of clients silent for this long are dropped through the log. */
  sessionTtlMs: number;
  /**
   * History older than this many revisions is compacted by the leader (0: never automatically), in
   * steps of a tenth of it: one log entry per step rather than one per sweep under steady writes.
   */
  retainRevisions: number;
  /** Where watch events may go besides `_INBOX.` (literal subject prefixes). */
  watchInboxPrefixes?: readonly string[];
  /** The consensus engine underneath, reported in status. */
  engine?: string;
  /** The longest election timeout of the configuration: the minimum lease TTL follows from it (see minLeaseTtlMs). */
  maxElectionTimeoutMs: number;
  now?: () => number;
}

const WATCH_RENEW_MS = 3000;
const WATCH_BATCH = 1000;
const SNAPSHOT_CHUNK_BYTES = 512 * 1024;

/**
 * The store's API over the bus, on top of an engine host (Raft or Multi-Paxos) and a
 * KvStateMachine: writes go through the log with the client's session (exactly-once), reads take
 * the barrier their consistency asks for,
 * the leader keeps lease deadlines in memory and replicates expiries, watches are pushed to the
 * client's inbox as entries apply.
 */
export class KvService {
  sm = new KvStateMachine();
  host!: ReplicaHost<KvApplyResult>;
  private readonly now: () => number;
  /** Grants below it are raised to it: a lease this short would not ride through a failover. */
  private readonly minLeaseTtlMs: number;
  private readonly log: Logger;
  private readonly endpoints: EndpointServer;
  private leaderEndpoints: EndpointServer | undefined;
  private readonly leaseDeadlines = new Map<number, number>();
  /** The lease table `leaseDeadlines` last followed (see onApplied). */
  private leasesSynced: { sm: KvStateMachine; epoch: number } | undefined;
  private readonly sessionSeen = new Map<string, number>();
  private readonly watches = new Map<string, { inbox: string; filter: WatchFilter; next: number; expiresAt: number; firstOf?: string; once?: boolean }>();
  private readonly snapshots = new Map<string, { data: Uint8Array; index: number; revision: number; expiresAt: number }>();
  private sweeper: NodeJS.Timeout | undefined;
  private expiring = false;
  private compacting = false;
  private isLeader = false;
  private readonly requests: Counter<'type' | 'outcome'>;
  /** Commands proposed here after validation on arrival, by the bytes proposed (see applyEntry). */
  private readonly validated = new WeakMap<Uint8Array, KvCommand>();

  constructor(private readonly o: KvServiceOptions) {
    this.now = o.now ?? Date.now;
    this.minLeaseTtlMs = minLeaseTtlMs(o.maxElectionTimeoutMs);
    this.log = o.log.child({ component: 'kv' });
    this.requests = new Counter({ name: 'synod_kv_requests_total', help: 'Store requests by type and outcome', labelNames: ['type', 'outcome'], registers: [o.metrics] });
    this.endpoints = new EndpointServer({ nc: o.nc, log: this.log, onOutcome: (name, outcome) => this.requests.inc({ type: name, outcome }) });
  }

  /** The state machine as the host applies it (a restored snapshot replaces it wholesale). */
  stateMachine(): StateMachine<KvApplyResult> {
    return {
      apply: (e: CommittedEntry) => this.applyEntry(e),
      beginSnapshot: () => this.sm.beginSnapshot(),
      restore: (data: Uint8Array) => {
        this.sm = KvStateMachine.restore(data);
      },
    };
  }

  start(host: ReplicaHost<KvApplyResult>): void {
    this.host = host;
    const { namespace, id } = this.o;
    const common = { input: StoreRequest, maxRequestBytes: this.o.maxRequestBytes, handler: (req: StoreRequest) => this.handle(req, 'node') };
    this.endpoints.add('node', { ...common, subject: subjects.kvNode(namespace, id) });
    this.endpoints.add('any', { ...common, subject: subjects.kvAny(namespace), queue: 'replicas', handler: (req: StoreRequest) => this.handle(req, 'any') });
    this.endpoints.add('watch', { ...common, subject: subjects.kvWatch(namespace, id) });
    this.sweeper = setInterval(() => this.sweep(), this.o.sweepMs);
  }

  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.sweeper);
    await this.leaderEndpoints?.stop(timeoutMs);
    await this.endpoints.stop(timeoutMs);
  }

  /** Called by the host when the role changes: only the leader serves `<ns>.kv.leader`. */
  onRoleChange(role: string): void {
    const leading = role === 'leader';
    if (leading === this.isLeader) return;
    this.isLeader = leading;
    if (leading) {
      // A new leader extends every live lease by its full TTL instead of expiring it on failover.
      const now = this.now();
      this.leaseDeadlines.clear();
      for (const [id, ttlMs] of this.sm.leaseTtls()) this.leaseDeadlines.set(id, now + ttlMs);
      this.leasesSynced = { sm: this.sm, epoch: this.sm.leaseEpoch };
      this.sessionSeen.clear();
      this.leaderEndpoints = new EndpointServer({ nc: this.o.nc, log: this.log, onOutcome: (name, outcome) => this.requests.inc({ type: name, outcome }) });
      this.leaderEndpoints.add('leader', { input: StoreRequest, maxRequestBytes: this.o.maxRequestBytes, subject: subjects.kvLeader(this.o.namespace), handler: (req: StoreRequest) => this.handle(req, 'leader') });
    } else {
      const old = this.leaderEndpoints;
      this.leaderEndpoints = undefined;
      // Requests already taken finish (they fail with NOT_LEADER or complete); new ones go elsewhere.
      void old?.stop(5000);
    }
  }

  /** Called by the host after entries are applied. */
  onApplied(): void {
    // The leader's expiry deadlines follow the lease table: only when it changed (or was replaced
    // by a snapshot, or leadership began) is it walked, not after every write.
    if (this.isLeader && (this.leasesSynced?.sm !== this.sm || this.leasesSynced.epoch !== this.sm.leaseEpoch)) {
      const now = this.now();
      const live = new Set<number>();
      for (const [id, ttlMs] of this.sm.leaseTtls()) {
        live.add(id);
        if (!this.leaseDeadlines.has(id)) this.leaseDeadlines.set(id, now + ttlMs);
      }
      for (const id of this.leaseDeadlines.keys()) if (!live.has(id)) this.leaseDeadlines.delete(id);
      this.leasesSynced = { sm: this.sm, epoch: this.sm.leaseEpoch };
    }
    this.pushWatches();
  }

  // ------------------------------------------------------------------ requests

  private async handle(req: StoreRequest, via: 'leader' | 'node' | 'any'): Promise<unknown> {
    switch (req.type) {
      case 'range': {
        if (req.consistency !== 'stale') await this.barrier(req.consistency === 'lease' ? 'lease' : 'read-index');
        return unwrap(this.sm.range(req.request));
      }
      case 'status':
        return this.status();
      case 'watch':
        return this.createWatch(req);
      case 'watchRenew': {
        const until = this.now() + 3 * WATCH_RENEW_MS;
        const missing: string[] = [];
        for (const id of req.watchIds) {
          const w = this.watches.get(id);
          if (w) w.expiresAt = until;
          else missing.push(id);
        }
        return { renewed: req.watchIds.length - missing.length, missing };
      }
      case 'watchCancel':
        return { cancelled: this.watches.delete(req.watchId) };
      default:
        break;
    }
    // Everything else needs the leader.
    this.requireLeader(via);
    switch (req.type) {
      case 'write': {
        this.sessionSeen.set(req.session.clientId, this.now());
        // Validated as a StoreRequest already (the same rules as the log's RequestCommand): this
        // replica applies it as it is rather than decoding and checking its bytes again.
        return this.proposeCommand({ type: 'request', session: req.session, op: raiseLeaseTtl(req.op, this.minLeaseTtlMs) }, true);
      }
      case 'leaseKeepAlive': {
        await this.barrier('lease');
        const lease = this.sm.lease(req.id);
        if (!lease) throw new SynodError('LEASE_NOT_FOUND', `lease ${req.id} does not exist`);
        this.leaseDeadlines.set(req.id, this.now() + lease.ttlMs);
        return { id: req.id, ttlMs: lease.ttlMs };
      }
      case 'leaseTimeToLive': {
        await this.barrier('lease');
        const lease = this.sm.lease(req.id);
        if (!lease) throw new SynodError('LEASE_NOT_FOUND', `lease ${req.id} does not exist`);
        const deadline = this.leaseDeadlines.get(req.id) ?? this.now() + lease.ttlMs;
        return { id: req.id, ttlMs: lease.ttlMs, remainingMs: Math.max(0, Math.round(deadline - this.now())), keys: lease.keys };
      }
      case 'leases':
        await this.barrier('read-index');
        return { leases: this.sm.leases() };
      case 'compact':
        return this.proposeCommand({ type: 'compact', revision: req.revision });
      case 'member':
        return this.host.proposeMembership(req.change);
      case 'transfer': {
        const to = req.to ?? this.bestSuccessor();
        if (!to) throw new SynodError('UNAVAILABLE', 'no other voter to hand leadership to');
        await this.host.transferLeadership(to);
        return { to };
      }
      case 'snapshot':
        return this.snapshotChunk(req.offset, req.token);
    }
  }

  private requireLeader(via: 'leader' | 'node' | 'any'): void {
    if (this.isLeader) return;
    const leader = this.host.status().leader;
    if (via === 'leader') this.log.debug('request on the leader subject after losing leadership');
    throw new SynodError('NOT_LEADER', `${this.o.id} is not the leader`, { details: { leader: leader ?? null } });
  }

  private async barrier(mode: 'read-index' | 'lease'): Promise<void> {
    await this.host.readBarrier(mode);
  }

  private async proposeCommand(cmd: KvCommand, validated = false): Promise<unknown> {
    const data = enc.encode(JSON.stringify(cmd));
    if (validated) this.validated.set(data, cmd);
    const { result } = await this.host.propose(data);
    if (!result.ok) throw kvError(result.error);
    return result.result;
  }

  private applyEntry(e: CommittedEntry): KvApplyResult {
    if (e.kind !== 'command') return this.sm.apply(e.index, { type: 'noop' });
    // A write this leader validated on arrival comes back as the very bytes it proposed (another
    // leader's entry at that index would be other bytes): applied from the checked object, it
    // skips a JSON parse and a second schema check on the path of every write's answer.
    const own = this.validated.get(e.data);
    if (own) {
      this.validated.delete(e.data);
      return this.sm.applyParsed(e.index, own);
    }
    let cmd: unknown;
    try {
      cmd = JSON.parse(dec.decode(e.data));
    } catch (err) {
      // Every replica fails the same way on the same entry, so they stay identical.
      this.log.error({ err, index: e.index }, 'undecodable command in the log applied as a no-op');
      cmd = { type: 'noop' };
    }
    // The state machine validates the command (once) and answers an invalid one with an error,
    // through the client's session when the envelope is valid: the same on every replica.
    const result = this.sm.apply(e.index, cmd as KvCommand);
    if (!result.ok && result.error.code === 'INVALID') {
      this.log.error({ index: e.index, error: result.error.message }, 'invalid command in the log answered with an error');
    }
    return result;
  }

  private status(): StatusResult {
    const s = this.host.status();
    const result: StatusResult = {
      id: s.id,
      role: s.role,
      leader: s.leader ?? null,
      term: s.epoch,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      lastIndex: s.lastIndex,
      revision: this.sm.revision,
      compactRevision: this.sm.compactRevision,
      keys: this.sm.size,
      membership: s.membership,
      engine: this.o.engine ?? 'raft',
      minLeaseTtlMs: this.minLeaseTtlMs,
      maxElectionTimeoutMs: this.o.maxElectionTimeoutMs,
    };
    if (s.progress) {
      result.progress = Object.fromEntries(Object.entries(s.progress).map(([id, p]) => [id, { ...p, lag: Math.max(0, s.lastIndex - p.match) }]));
    }
    return result;
  }

  private bestSuccessor(): string | undefined {
    const s = this.host.status();
    const candidates = Object.entries(s.progress ?? {}).filter(([id]) => id !== this.o.id && s.membership.voters.includes(id));
    candidates.sort((a, b) => b[1].match - a[1].match);
    return candidates[0]?.[0];
  }

  private snapshotChunk(offset: number, token: string | undefined): unknown {
    let snap = token ? this.snapshots.get(token) : undefined;
    if (token && !snap) throw new SynodError('BAD_REQUEST', `snapshot ${token} expired or unknown: start again from offset 0`);
    if (!snap) {
      token = randomBytes(8).toString('hex');
      snap = { data: this.sm.snapshot(), index: this.host.status().appliedIndex, revision: this.sm.revision, expiresAt: 0 };
      this.snapshots.set(token, snap);
    }
    snap.expiresAt = this.now() + 60_000;
    const end = Math.min(snap.data.length, offset + SNAPSHOT_CHUNK_BYTES);
    const done = end >= snap.data.length;
    if (done) this.snapshots.delete(token!);
    return {
      token,
      index: snap.index,
      revision: snap.revision,
      size: snap.data.length,
      offset,
      data: Buffer.from(snap.data.subarray(offset, end)).toString('base64'),
      done,
    };
  }

  // ------------------------------------------------------------------ watches

  private createWatch(req: Extract<StoreRequest, { type: 'watch' }>): unknown {
    if (!watchInboxAllowed(req.inbox, this.o.watchInboxPrefixes)) {
      const allowed = ['_INBOX', ...(this.o.watchInboxPrefixes ?? [])].map((p) => `${p}.`).join(', ');
      throw new SynodError('BAD_REQUEST', `invalid request: inbox must be a subject under ${allowed} (the client's own reply prefix)`, {
        details: [{ path: 'inbox', message: `not under ${allowed}` }],
      });
    }
    const existing = this.watches.get(req.watchId);
    if (existing && existing.inbox !== req.inbox) throw new SynodError('BAD_REQUEST', `watch id ${req.watchId} is in use by another client: pick a unique id`);
    const probe = this.sm.watchFrom(req.fromRevision, req.filter, 1);
    if (!probe.ok) throw kvError(probe.error);
    const from = req.fromRevision === 0 ? this.sm.revision + 1 : req.fromRevision;
    this.watches.set(req.watchId, {
      inbox: req.inbox,
      filter: req.filter,
      next: from,
      expiresAt: this.now() + 3 * WATCH_RENEW_MS,
      ...(req.firstOf === undefined ? {} : { firstOf: req.firstOf }),
      ...(req.once ? { once: true } : {}),
    });
    // The backlog goes out right after the reply (the client subscribed to its inbox first).
    setImmediate(() => this.pushWatches());
    return { watchId: req.watchId, node: this.o.id, renewMs: WATCH_RENEW_MS, startRevision: from };
  }

  private pushWatches(): void {
    for (const [id, w] of this.watches) {
      for (let guard = 0; guard < 100; guard++) {
        const ans = this.sm.watchFrom(w.next, w.filter, WATCH_BATCH);
        if (!ans.ok) {
          this.publish(w.inbox, { type: 'ended', watchId: id, error: kvError(ans.error).toEnvelope().error });
          this.watches.delete(id);
          break;
        }
        w.next = ans.nextRevision;
        if (ans.events.length === 0) break;
        if (w.firstOf !== undefined) {
          // Read now, after the events' revisions were applied: the head of the line at this state.
          const head = this.sm.range({ key: w.firstOf, prefix: true, sortBy: 'createRevision', limit: 1, keysOnly: true });
          const kv = head.ok ? head.result.kvs[0] : undefined;
          const first = kv ? { key: kv.key, createRevision: kv.createRevision } : null;
          for (const e of ans.events) e.first = first;
        }
        this.publish(w.inbox, { type: 'events', watchId: id, events: ans.events, revision: this.sm.revision });
        if (w.once) {
          this.watches.delete(id);
          break;
        }
        if (ans.events.length < WATCH_BATCH) break;
      }
    }
  }

  private publish(inbox: string, msg: WatchMessage): void {
    try {
      this.o.nc.publish(inbox, enc.encode(JSON.stringify(msg)));
    } catch (err) {
      this.log.warn({ err, inbox }, 'watch message not published');
    }
  }

  // ------------------------------------------------------------------ leader housekeeping

  private sweep(): void {
    const now = this.now();
    for (const [id, w] of this.watches) if (w.expiresAt < now) this.watches.delete(id);
    for (const [t, s] of this.snapshots) if (s.expiresAt < now) this.snapshots.delete(t);
    if (!this.isLeader) return;
    const expired = [...this.leaseDeadlines].filter(([, d]) => d <= now).map(([id]) => id);
    if (expired.length > 0 && !this.expiring) {
      this.expiring = true;
      this.proposeCommand({ type: 'leaseExpire', ids: expired.slice(0, 10_000) })
        .catch((err: unknown) => this.log.warn({ err }, 'lease expiry not committed; will retry'))
        .finally(() => {
          this.expiring = false;
        });
    }
    const idle = [...this.sessionSeen].filter(([, t]) => now - t > this.o.sessionTtlMs).map(([c]) => c);
    if (idle.length > 0) {
      for (const c of idle) this.sessionSeen.delete(c);
      this.proposeCommand({ type: 'expireSessions', clientIds: idle.slice(0, 10_000) }).catch((err: unknown) => this.log.warn({ err }, 'session expiry not committed'));
    }
    const target = this.sm.revision - this.o.retainRevisions;
    const step = Math.max(1, Math.floor(this.o.retainRevisions / 10));
    if (this.o.retainRevisions > 0 && target - this.sm.compactRevision >= step && !this.compacting) {
      this.compacting = true;
      this.proposeCommand({ type: 'compact', revision: target })
        .catch((err: unknown) => this.log.warn({ err }, 'compaction not committed'))
        .finally(() => {
          this.compacting = false;
        });
    }
  }
}

function unwrap<T>(a: { ok: true; result: T } | { ok: false; error: KvError }): T {
  if (!a.ok) throw kvError(a.error);
  return a.result;
}

/**
 * A lease grant below the store's minimum TTL, raised to it (the answer carries the TTL granted);
 * every other write as it is.
 */
export function raiseLeaseTtl(op: KvWriteOp, minTtlMs: number): KvWriteOp {
  return op.op === 'leaseGrant' && op.ttlMs < minTtlMs ? { ...op, ttlMs: minTtlMs } : op;
}
