import { StoreRequest, SynodError, kvError, minLeaseTtlMs, type KvError, subjects, type StatusResult } from '@synod/protocol';
import type { KvCommand, KvApplyResult, ReplicatedKv } from '@synod/kv-state';
import type { ReplicaHost } from '@synod/engine-host';
import { EndpointServer, type Counter, type Logger, type NatsConnection } from '@synod/service-kit';
import { raiseLeaseTtl } from './leases.js';
import { SnapshotServer } from './snapshots.js';
import { Watches } from './watches.js';

const enc = new TextEncoder();

export interface KvServiceOptions {
  nc: NatsConnection;
  namespace: string;
  id: string;
  log: Logger;
  /** Counts store requests by type and outcome. */
  requests: Counter<'type' | 'outcome'>;
  /** The store's state as the host applies it. */
  state: ReplicatedKv;
  /** Largest request accepted, in bytes. */
  maxRequestBytes: number;
  /** How often the leader looks for idle sessions and history to compact, in ms. */
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
  engine: string;
  /** The longest election timeout of the configuration: the minimum lease TTL follows from it (see minLeaseTtlMs). */
  maxElectionTimeoutMs: number;
  now?: () => number;
}

/**
 * The store's API over the bus, on top of an engine host (any engine) and the replicated
 * KvStateMachine: its endpoints and what each request needs. Writes go through the log with the
 * client's session (exactly-once), a lease grant raised to the store's minimum TTL (`leases.ts`);
 * reads take the barrier their consistency asks for; lease deadlines are the host's (keep-alives,
 * expiry: libs/engine-host, where the simulator runs them); watches (`watches.ts`) and snapshots for
 * clients (`snapshots.ts`) are each served by their own part; the leader's other chores (expiring
 * idle sessions, compacting history) run on a sweep.
 */
export class KvService {
  host!: ReplicaHost<KvApplyResult>;
  private readonly now: () => number;
  /** Grants below it are raised to it: a lease this short would not ride through a failover. */
  private readonly minLeaseTtlMs: number;
  private readonly log: Logger;
  private readonly endpoints: EndpointServer;
  private leaderEndpoints: EndpointServer | undefined;
  private readonly watches: Watches;
  private readonly snapshots: SnapshotServer;
  private readonly sessionSeen = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private compacting = false;
  private isLeader = false;
  private readonly requests: Counter<'type' | 'outcome'>;

  constructor(private readonly o: KvServiceOptions) {
    this.now = o.now ?? Date.now;
    this.minLeaseTtlMs = minLeaseTtlMs(o.maxElectionTimeoutMs);
    this.log = o.log.child({ component: 'kv' });
    this.watches = new Watches(o.nc, o.id, this.log, this.now, o.watchInboxPrefixes ?? []);
    this.snapshots = new SnapshotServer(this.now);
    this.requests = o.requests;
    this.endpoints = new EndpointServer({ nc: o.nc, log: this.log, onOutcome: (name, outcome) => this.requests.inc({ type: name, outcome }) });
  }

  /** The current state machine (a restored snapshot replaces it wholesale). */
  private get sm() {
    return this.o.state.sm;
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
    this.watches.push(this.sm);
  }

  // ------------------------------------------------------------------ requests

  private async handle(req: StoreRequest, via: 'leader' | 'node' | 'any'): Promise<unknown> {
    switch (req.type) {
      case 'range': {
        if (req.consistency !== 'stale') await this.host.readBarrier(req.consistency === 'lease' ? 'lease' : 'read-index');
        return unwrap(this.sm.range(req.request));
      }
      case 'status':
        return this.status();
      case 'watch':
        return this.watches.create(req, this.sm, () => setImmediate(() => this.watches.push(this.sm)));
      case 'watchRenew':
        return this.watches.renew(req.watchIds);
      case 'watchCancel':
        return this.watches.cancel(req.watchId);
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
      case 'leaseKeepAlive':
        // The host keeps the deadlines (libs/engine-host): the code the simulator runs.
        return this.host.leaseKeepAlive(req.id);
      case 'leaseTimeToLive': {
        const { ttlMs, remainingMs } = await this.host.leaseTimeToLive(req.id);
        const lease = this.sm.lease(req.id);
        if (!lease) throw new SynodError('LEASE_NOT_FOUND', `lease ${req.id} does not exist`);
        return { id: req.id, ttlMs, remainingMs, keys: lease.keys };
      }
      case 'leases':
        await this.host.readBarrier('read-index');
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
        return this.snapshots.chunk(req.offset, req.token, this.sm, this.host.status().appliedIndex);
    }
  }

  private requireLeader(via: 'leader' | 'node' | 'any'): void {
    if (this.isLeader) return;
    const leader = this.host.status().leader;
    if (via === 'leader') this.log.debug('request on the leader subject after losing leadership');
    throw new SynodError('NOT_LEADER', `${this.o.id} is not the leader`, { details: { leader: leader ?? null } });
  }

  private async proposeCommand(cmd: KvCommand, validated = false): Promise<unknown> {
    const data = enc.encode(JSON.stringify(cmd));
    if (validated) this.o.state.proposing(data, cmd);
    const { result } = await this.host.propose(data);
    if (!result.ok) throw kvError(result.error);
    return result.result;
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
      engine: this.o.engine,
      minLeaseTtlMs: this.minLeaseTtlMs,
      maxElectionTimeoutMs: this.o.maxElectionTimeoutMs,
    };
    if (s.progress) {
      result.progress = Object.fromEntries(Object.entries(s.progress).map(([id, p]) => [id, { ...p, lag: Math.max(0, s.lastIndex - p.match) }]));
    }
    return result;
  }

  private bestSuccessor(): string | undefined {
    return bestSuccessor(this.host, this.o.id);
  }

  // ------------------------------------------------------------------ leader chores

  private sweep(): void {
    this.watches.sweep();
    this.snapshots.sweep();
    if (!this.isLeader) return;
    const now = this.now();
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

/** The voter that replicated most, other than `self`: the leader's pick to hand leadership to. */
export function bestSuccessor(host: Pick<ReplicaHost<unknown>, 'status'>, self: string): string | undefined {
  const s = host.status();
  const candidates = Object.entries(s.progress ?? {}).filter(([id]) => id !== self && s.membership.voters.includes(id));
  candidates.sort((a, b) => b[1].match - a[1].match);
  return candidates[0]?.[0];
}

function unwrap<T>(a: { ok: true; result: T } | { ok: false; error: KvError }): T {
  if (!a.ok) throw kvError(a.error);
  return a.result;
}
