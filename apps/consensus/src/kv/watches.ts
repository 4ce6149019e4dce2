import { kvError, SynodError, watchInboxAllowed, type StoreRequest, type WatchFilter, type WatchMessage } from '@synod/protocol';
import type { KvStateMachine } from '@synod/kv-state';
import type { Logger, NatsConnection } from '@synod/service-kit';

const enc = new TextEncoder();
/** A watch not renewed within three of these is dropped. */
export const WATCH_RENEW_MS = 3000;
const WATCH_BATCH = 1000;

interface Watch {
  inbox: string;
  filter: WatchFilter;
  /** The next revision to send. */
  next: number;
  expiresAt: number;
  /** Each batch of events carries the first key under this prefix (the head of a lock's line). */
  firstOf?: string;
  /** Ends after its first batch of events. */
  once?: boolean;
}

/**
 * The watches one replica serves: events are pushed to each client's inbox as entries apply (or
 * from history, for a watch starting at a past revision), in batches; a client renews its watches
 * every WATCH_RENEW_MS, and a watch not renewed within three of those is dropped.
 */
export class Watches {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly node: string,
    private readonly log: Logger,
    private readonly now: () => number,
    /** Where events may go besides `_INBOX.` (literal subject prefixes). */
    private readonly inboxPrefixes: readonly string[],
  ) {}

  create(req: Extract<StoreRequest, { type: 'watch' }>, sm: KvStateMachine, pushSoon: () => void): unknown {
    if (!watchInboxAllowed(req.inbox, this.inboxPrefixes)) {
      const allowed = ['_INBOX', ...this.inboxPrefixes].map((p) => `${p}.`).join(', ');
      throw new SynodError('BAD_REQUEST', `invalid request: inbox must be a subject under ${allowed} (the client's own reply prefix)`, {
        details: [{ path: 'inbox', message: `not under ${allowed}` }],
      });
    }
    const existing = this.watches.get(req.watchId);
    if (existing && existing.inbox !== req.inbox) throw new SynodError('BAD_REQUEST', `watch id ${req.watchId} is in use by another client: pick a unique id`);
    const probe = sm.watchFrom(req.fromRevision, req.filter, 1);
    if (!probe.ok) throw kvError(probe.error);
    const from = req.fromRevision === 0 ? sm.revision + 1 : req.fromRevision;
    this.watches.set(req.watchId, {
      inbox: req.inbox,
      filter: req.filter,
      next: from,
      expiresAt: this.now() + 3 * WATCH_RENEW_MS,
      ...(req.firstOf === undefined ? {} : { firstOf: req.firstOf }),
      ...(req.once ? { once: true } : {}),
    });
    // The backlog goes out right after the reply (the client subscribed to its inbox first).
    pushSoon();
    return { watchId: req.watchId, node: this.node, renewMs: WATCH_RENEW_MS, startRevision: from };
  }

  renew(ids: readonly string[]): { renewed: number; missing: string[] } {
    const until = this.now() + 3 * WATCH_RENEW_MS;
    const missing: string[] = [];
    for (const id of ids) {
      const w = this.watches.get(id);
      if (w) w.expiresAt = until;
      else missing.push(id);
    }
    return { renewed: ids.length - missing.length, missing };
  }

  cancel(id: string): { cancelled: boolean } {
    return { cancelled: this.watches.delete(id) };
  }

  /** Sends every watch the events it has not had yet. */
  push(sm: KvStateMachine): void {
    for (const [id, w] of this.watches) {
      for (let guard = 0; guard < 100; guard++) {
        const ans = sm.watchFrom(w.next, w.filter, WATCH_BATCH);
        if (!ans.ok) {
          this.publish(w.inbox, { type: 'ended', watchId: id, error: kvError(ans.error).toEnvelope().error });
          this.watches.delete(id);
          break;
        }
        w.next = ans.nextRevision;
        if (ans.events.length === 0) break;
        if (w.firstOf !== undefined) {
          // Read now, after the events' revisions were applied: the head of the line at this state.
          const head = sm.range({ key: w.firstOf, prefix: true, sortBy: 'createRevision', limit: 1, keysOnly: true });
          const kv = head.ok ? head.result.kvs[0] : undefined;
          const first = kv ? { key: kv.key, createRevision: kv.createRevision } : null;
          for (const e of ans.events) e.first = first;
        }
        this.publish(w.inbox, { type: 'events', watchId: id, events: ans.events, revision: sm.revision });
        if (w.once) {
          this.watches.delete(id);
          break;
        }
        if (ans.events.length < WATCH_BATCH) break;
      }
    }
  }

  /** Drops the watches their clients stopped renewing. */
  sweep(): void {
    const now = this.now();
    for (const [id, w] of this.watches) if (w.expiresAt < now) this.watches.delete(id);
  }

  private publish(inbox: string, msg: WatchMessage): void {
    try {
      this.nc.publish(inbox, enc.encode(JSON.stringify(msg)));
    } catch (err) {
      this.log.warn({ err, inbox }, 'watch message not published');
    }
  }
}
