import { LockMode, type LockEntry } from '@synod/protocol';

/**
 * The pure part of the lock recipe (etcd's): every contender owns one key
 * `<prefix>/<name>/<mode>/<leaseId>`, and arrival order is the keys' createRevision.
 *
 * - mutex / write: the holder is the first key; a waiter watches the key just before it.
 * - read: holds when every key before it is a reader; watches the closest non-reader before it.
 * - semaphore (N permits): holds when every key before it is a semaphore key and it is among the
 *   first N; it watches the whole name (any release before it may let it in).
 *
 * Modes may be mixed on one name and stay safe: a writer/mutex needs to be first, readers need
 * only readers ahead, semaphore holders need only semaphore holders ahead, so every holder set is
 * all readers, or up to N semaphore holders, or one exclusive holder.
 */

export function lockPrefix(prefix: string, name: string): string {
  return `${prefix}/${name}/`;
}

export function lockKey(prefix: string, name: string, mode: LockMode, lease: number): string {
  return `${lockPrefix(prefix, name)}${mode}/${lease}`;
}

/** Reads `<prefix>/<name>/<mode>/<lease>` back; undefined for a key of another shape. */
export function parseLockKey(namePrefix: string, key: string): { mode: LockMode; lease: number } | undefined {
  if (!key.startsWith(namePrefix)) return undefined;
  const [mode, lease, ...rest] = key.slice(namePrefix.length).split('/');
  const m = LockMode.safeParse(mode);
  if (!m.success || rest.length > 0 || lease === undefined || !/^[1-9]\d{0,15}$/.test(lease)) return undefined;
  return { mode: m.data, lease: Number(lease) };
}

/** The value stored in a lock key (for `state`). */
export function encodeLockValue(mode: LockMode, permits: number | undefined): string {
  return JSON.stringify(permits === undefined ? { mode } : { mode, permits });
}

export function decodePermits(value: string): number | undefined {
  try {
    const v = JSON.parse(value) as { permits?: unknown };
    return typeof v.permits === 'number' && Number.isInteger(v.permits) && v.permits > 0 ? v.permits : undefined;
  } catch {
    return undefined;
  }
}

/** Sorts contenders in arrival order (createRevision, then key for determinism). */
export function inArrivalOrder(entries: readonly LockEntry[]): LockEntry[] {
  return [...entries].sort((a, b) => a.createRevision - b.createRevision || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Whether the entry at `index` of an arrival-ordered list holds the lock. */
export function holdsAt(ordered: readonly LockEntry[], index: number): boolean {
  const me = ordered[index];
  if (me === undefined) return false;
  const ahead = ordered.slice(0, index);
  switch (me.mode) {
    case 'mutex':
    case 'write':
      return index === 0;
    case 'read':
      return ahead.every((e) => e.mode === 'read');
    case 'semaphore':
      return ahead.every((e) => e.mode === 'semaphore') && index < (me.permits ?? 1);
  }
}

/** Holders and waiters of one name, in arrival order. */
export function splitHolders(entries: readonly LockEntry[]): { holders: LockEntry[]; waiters: LockEntry[] } {
  const ordered = inArrivalOrder(entries);
  const holders: LockEntry[] = [];
  const waiters: LockEntry[] = [];
  ordered.forEach((e, i) => (holdsAt(ordered, i) ? holders : waiters).push(e));
  return { holders, waiters };
}

export type Decision =
  | { kind: 'missing' }
  | { kind: 'holder'; position: number }
  /** `watchKey`: the one key whose deletion may make this waiter the holder; undefined: any key of the name before it. */
  | { kind: 'wait'; position: number; watchKey: string | undefined; ahead: string[] };

/** What the contender with key `myKey` should do, given every key of the name. */
export function decide(entries: readonly LockEntry[], myKey: string): Decision {
  const ordered = inArrivalOrder(entries);
  const index = ordered.findIndex((e) => e.key === myKey);
  if (index < 0) return { kind: 'missing' };
  if (holdsAt(ordered, index)) return { kind: 'holder', position: index };
  const me = ordered[index]!;
  const ahead = ordered.slice(0, index).map((e) => e.key);
  switch (me.mode) {
    case 'mutex':
    case 'write':
      return { kind: 'wait', position: index, watchKey: ordered[index - 1]!.key, ahead };
    case 'read': {
      let j = index - 1;
      while (j >= 0 && ordered[j]!.mode === 'read') j--;
      return { kind: 'wait', position: index, watchKey: ordered[j]!.key, ahead };
    }
    case 'semaphore':
      return { kind: 'wait', position: index, watchKey: undefined, ahead };
  }
}
