import type { ForceReleaseResult, LockEntry, LockListResult, LockStateResult } from '@synod/protocol';
import type { StoreClient } from '@synod/store-client';
import { decodePermits, lockPrefix, parseLockKey, splitHolders } from './ownership.js';

type Call = { signal?: AbortSignal; timeoutMs?: number };

/** Keys read per store request while listing. */
const LIST_PAGE_KEYS = 1000;

/** The name a lock key `<prefix>/<name>/<mode>/<lease>` belongs to. */
function nameOf(prefix: string, key: string): string | undefined {
  const rest = key.slice(prefix.length + 1);
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : undefined;
}

/**
 * Every lock with a holder or a waiter, by name in key order, `limit` names a page. A name's keys
 * are one contiguous run of the key space (`<prefix>/<name>/...`; names hold no `/`), so a page
 * ends after a whole name and the next starts strictly after its keys.
 */
export async function listLocks(store: StoreClient, prefix: string, after: string | undefined, limit: number, call: Call): Promise<LockListResult> {
  const groups = new Map<string, LockEntry[]>();
  let cursor = after === undefined ? undefined : `${lockPrefix(prefix, after)}\u{10ffff}`;
  let revision = 0;
  let more = true;
  // One name more than the page holds tells whether there is a next page.
  while (more && groups.size <= limit) {
    const r = await store.range({ key: `${prefix}/`, prefix: true, limit: LIST_PAGE_KEYS, ...(cursor === undefined ? {} : { after: cursor }), ...call });
    revision ||= r.revision;
    for (const kv of r.kvs) {
      const name = nameOf(prefix, kv.key);
      if (name === undefined) continue;
      const parsed = parseLockKey(lockPrefix(prefix, name), kv.key);
      if (!parsed) continue;
      const permits = kv.value === '' ? undefined : decodePermits(kv.value);
      let entries = groups.get(name);
      if (!entries) groups.set(name, (entries = []));
      entries.push({ key: kv.key, mode: parsed.mode, lease: kv.lease, createRevision: kv.createRevision, ...(permits === undefined ? {} : { permits }) });
    }
    more = r.more;
    cursor = r.kvs.at(-1)?.key;
    if (cursor === undefined) break;
  }
  const names = [...groups.keys()];
  const page = names.slice(0, limit);
  // Reading stops only past the page's last name (or at the end), so every name on it is whole.
  const locks: Omit<LockStateResult, 'revision'>[] = await Promise.all(
    page.map(async (name) => {
      const { holders, waiters } = splitHolders(groups.get(name)!);
      const withTtl = await Promise.all(
        holders.map(async (h) => {
          const remaining = await store.leaseTimeToLive(h.lease, call).then(
            (t) => t.remainingMs,
            () => null,
          );
          return { ...h, token: h.createRevision, leaseRemainingMs: remaining };
        }),
      );
      return { name, holders: withTtl, waiters };
    }),
  );
  return { locks, next: names.length > limit ? page.at(-1)! : null, revision };
}

/**
 * Deletes the key of the holder of `name` whose fencing token is `token` (its createRevision), and
 * only that key: a compare-and-delete, so a holder that released meanwhile, or a new holder with a
 * larger token, is left alone. The next grant's token is a later revision, so it still increases.
 */
export async function forceRelease(store: StoreClient, prefix: string, name: string, token: number, call: Call): Promise<ForceReleaseResult> {
  const namePrefix = lockPrefix(prefix, name);
  const r = await store.range({ key: namePrefix, prefix: true, ...call });
  const entries: LockEntry[] = [];
  for (const kv of r.kvs) {
    const parsed = parseLockKey(namePrefix, kv.key);
    if (parsed) entries.push({ key: kv.key, mode: parsed.mode, lease: kv.lease, createRevision: kv.createRevision });
  }
  const holder = splitHolders(entries).holders.find((h) => h.createRevision === token);
  if (!holder) return { released: false, key: null, lease: null };
  const t = await store.txn(
    { compare: [{ key: holder.key, target: 'createRevision', op: '=', value: token }], success: [{ op: 'delete', key: holder.key }], failure: [] },
    call,
  );
  return { released: t.succeeded, key: holder.key, lease: holder.lease };
}
