import {
  ForceReleaseResult,
  LockListResult,
  SynodError,
  subjects,
  type KeyValue,
  type StatusResult,
  type WatchEvent,
} from '@synod/protocol';
import { busRequest, type Logger, type NatsConnection } from '@synod/service-kit';
import type { StoreClient } from '@synod/store-client';

/** One replica as the console shows it. */
export interface MemberView {
  id: string;
  /** false: it did not answer its status request in time. */
  reachable: boolean;
  voter: boolean;
  role?: string;
  term?: number;
  commitIndex?: number;
  appliedIndex?: number;
  /** Entries behind the leader's last index, from the leader's progress report. */
  lag?: number;
}

export interface ClusterView {
  at: number;
  leader: string | null;
  term: number;
  engine: string;
  revision: number;
  keys: number;
  members: MemberView[];
}

export interface KeyPage {
  kvs: KeyValue[];
  /** The `after` of the next page; null on the last. */
  next: string | null;
  revision: number;
}

export interface KeyDetail {
  kv: KeyValue | null;
  /** Earlier values still in the store's history, newest first (at most 10). */
  history: { modRevision: number; value: string; version: number }[];
  lease: { id: number; ttlMs: number; remainingMs: number } | null;
  revision: number;
}

export interface LeaseView {
  id: number;
  ttlMs: number;
  remainingMs: number | null;
  keys: string[];
}

/** What the console reads and changes; the implementation is NATS (store client, lock manager). */
export interface ConsoleBackend {
  cluster(): Promise<ClusterView>;
  keys(prefix: string, after: string | undefined, limit: number): Promise<KeyPage>;
  key(key: string): Promise<KeyDetail>;
  put(key: string, value: string): Promise<{ revision: number }>;
  del(key: string): Promise<{ deleted: number; revision: number }>;
  /** Events under `prefix` as they happen, until `signal` aborts. */
  watch(prefix: string, signal: AbortSignal, onEvent: (event: WatchEvent) => void): Promise<void>;
  leases(): Promise<LeaseView[]>;
  revokeLease(id: number): Promise<{ revoked: boolean; deleted: number }>;
  locks(after: string | undefined, limit: number): Promise<LockListResult>;
  forceRelease(name: string, token: number, actor: string): Promise<ForceReleaseResult>;
}

export interface NatsBackendOptions {
  nc: NatsConnection;
  store: StoreClient;
  namespace: string;
  /** Budget of one call to the store or the lock manager, in ms. */
  timeoutMs: number;
  log: Logger;
}

/** Replies of a replica that is down: the member shows as unreachable after this long. */
export const MEMBER_STATUS_TIMEOUT_MS = 800;

export function natsBackend(o: NatsBackendOptions): ConsoleBackend {
  const call = { timeoutMs: o.timeoutMs };
  const lockCall = async <T>(subject: string, body: unknown, parse: (v: unknown) => T): Promise<T> =>
    parse(await busRequest(o.nc, subject, body, { timeoutMs: o.timeoutMs, requestId: `console-${Date.now().toString(36)}` }));
  return {
    async cluster() {
      const leaderStatus: StatusResult = await o.store.status(undefined, call);
      const { voters, learners } = leaderStatus.membership;
      const members = await Promise.all(
        [...voters.map((id) => ({ id, voter: true })), ...learners.map((id) => ({ id, voter: false }))].map(async ({ id, voter }): Promise<MemberView> => {
          const lag = leaderStatus.progress?.[id]?.lag;
          try {
            const s = id === leaderStatus.id ? leaderStatus : await o.store.status(id, { timeoutMs: MEMBER_STATUS_TIMEOUT_MS });
            return { id, voter, reachable: true, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, ...(lag === undefined ? {} : { lag }) };
          } catch {
            return { id, voter, reachable: false, ...(lag === undefined ? {} : { lag }) };
          }
        }),
      );
      return {
        at: Date.now(),
        leader: leaderStatus.leader,
        term: leaderStatus.term,
        engine: leaderStatus.engine,
        revision: leaderStatus.revision,
        keys: leaderStatus.keys,
        members,
      };
    },
    async keys(prefix, after, limit) {
      const r = await o.store.range({ key: prefix, prefix: true, limit, ...(after === undefined ? {} : { after }), ...call });
      return { kvs: r.kvs, next: r.more ? (r.kvs.at(-1)?.key ?? null) : null, revision: r.revision };
    },
    async key(key) {
      const { kv, revision } = await o.store.getWithRevision(key, call);
      const history: KeyDetail['history'] = [];
      if (kv) {
        // Walk back through the modRevisions the history still holds (compaction ends it).
        let at = kv.modRevision - 1;
        for (let i = 0; i < 10 && at >= kv.createRevision; i++) {
          const old = await o.store.get(key, { ...call, revision: at }).catch(() => undefined);
          if (!old) break;
          history.push({ modRevision: old.modRevision, value: old.value, version: old.version });
          at = old.modRevision - 1;
        }
      }
      let lease: KeyDetail['lease'] = null;
      if (kv && kv.lease > 0) {
        lease = await o.store.leaseTimeToLive(kv.lease, call).then(
          (t) => ({ id: t.id, ttlMs: t.ttlMs, remainingMs: t.remainingMs }),
          () => null,
        );
      }
      return { kv: kv ?? null, history, lease, revision };
    },
    async put(key, value) {
      const r = await o.store.put(key, value, call);
      return { revision: r.revision };
    },
    async del(key) {
      const r = await o.store.delete(key, call);
      return { deleted: r.deleted, revision: r.revision };
    },
    async watch(prefix, signal, onEvent) {
      const w = o.store.watch({ key: prefix, prefix: true, signal });
      try {
        for await (const event of w) onEvent(event);
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    },
    async leases() {
      const all = await o.store.leases(call);
      return Promise.all(
        all.map(async (l): Promise<LeaseView> => {
          const remainingMs = await o.store.leaseTimeToLive(l.id, call).then(
            (t) => t.remainingMs,
            () => null,
          );
          return { id: l.id, ttlMs: l.ttlMs, remainingMs, keys: l.keys };
        }),
      );
    },
    async revokeLease(id) {
      try {
        const r = await o.store.leaseRevoke(id, call);
        return { revoked: true, deleted: r.deleted };
      } catch (err) {
        if (err instanceof SynodError && err.code === 'LEASE_NOT_FOUND') return { revoked: false, deleted: 0 };
        throw err;
      }
    },
    locks(after, limit) {
      return lockCall(subjects.lockApi(o.namespace), { type: 'list', limit, ...(after === undefined ? {} : { after }) }, (v) => LockListResult.parse(v));
    },
    forceRelease(name, token, actor) {
      return lockCall(subjects.lockAdmin(o.namespace), { type: 'forceRelease', name, token, actor }, (v) => ForceReleaseResult.parse(v));
    },
  };
}
