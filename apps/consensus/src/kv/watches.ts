import { kvError, SynodError, watchInboxAllowed, type StoreRequest, type WatchEvent, type WatchFilter, type WatchMessage } from '@synod/protocol';
import type { KvStateMachine } from '@synod/kv-state';
import type { Logger, NatsConnection } from '@synod/service-kit';

const enc = new TextEncoder();
/** A watch not renewed within three of these is dropped. */
export const WATCH_RENEW_MS = 3000;
const WATCH_BATCH = 1000;
/** NATS's max_payload unless the server says otherwise. */
const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Room in a watch message for everything but its events (type, watch id, revision), in bytes. */
const WATCH_MESSAGE_OVERHEAD_BYTES = 1024;

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
        if (ans.events.length === 0) {
          w.next = ans.nextRevision;
          break;
        }
        if (w.firstOf !== undefined) {
          // Read now, after the events' revisions were applied: the head of the line at this state.
          const head = sm.range({ key: w.firstOf, prefix: true, sortBy: 'createRevision', limit: 1, keysOnly: true });
          const kv = head.ok ? head.result.kvs[0] : undefined;
          const first = kv ? { key: kv.key, createRevision: kv.createRevision } : null;
          for (const e of ans.events) e.first = first;
        }
        // One message must fit the bus: what does not goes in the next round, from its revision on.
        const fit = eventsThatFit(ans.events, (this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD_BYTES) - WATCH_MESSAGE_OVERHEAD_BYTES);
        if (fit === 0) {
          const revision = ans.events[0]!.kv.modRevision;
          const error = new SynodError('PAYLOAD_TOO_LARGE', `the events of revision ${revision} do not fit one bus message: watch them without prevKv, or fewer keys at a time`);
          this.publish(w.inbox, { type: 'ended', watchId: id, error: error.toEnvelope().error });
          this.watches.delete(id);
          break;
        }
        const all = fit === ans.events.length;
        w.next = all ? ans.nextRevision : ans.events[fit]!.kv.modRevision;
        this.publish(w.inbox, { type: 'events', watchId: id, events: all ? ans.events : ans.events.slice(0, fit), revision: sm.revision });
        if (w.once) {
          this.watches.delete(id);
          break;
        }
        if (all && ans.events.length < WATCH_BATCH) break;
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

/**
 * How many of `events` (from the first) go in one message of at most `budgetBytes`, cut only
 * between revisions (a revision split across messages would be resumed from its start and
 * partly delivered twice); 0 when the first revision alone does not fit. Events are measured only
 * when their bound (at most 6 bytes of JSON per UTF-16 unit of their strings) exceeds the budget.
 */
export function eventsThatFit(events: readonly WatchEvent[], budgetBytes: number): number {
  let bound = 0;
  for (const e of events) bound += eventBound(e);
  if (bound <= budgetBytes) return events.length;
  let used = 0;
  let fit = 0;
  for (let i = 0; i < events.length; i++) {
    used += Buffer.byteLength(JSON.stringify(events[i])) + 1;
    if (used > budgetBytes) break;
    if (i + 1 === events.length || events[i + 1]!.kv.modRevision !== events[i]!.kv.modRevision) fit = i + 1;
  }
  return fit;
}

function eventBound(e: WatchEvent): number {
  const strings = e.kv.key.length + e.kv.value.length + (e.prevKv ? e.prevKv.key.length + e.prevKv.value.length : 0) + (e.first ? e.first.key.length : 0);
  return 512 + 6 * strings;
}
