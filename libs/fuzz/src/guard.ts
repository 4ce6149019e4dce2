import type { FuzzContext } from './context.js';

/**
 * Valid requests the fuzzer does not send, found in what its mutations produce: each is a
 * legitimate operation, not hostile input, but it would undo the fixtures the checks rely on (the
 * writes read back afterwards, the held lock, the large values, the history below them) or change
 * the cluster's configuration. Returns why, or undefined when the request may go. Semantic cases are
 * written not to need it.
 */
export function unsafeToSend(body: unknown, ctx: FuzzContext): string | undefined {
  const protectedKeys = ctx.protectedKeys;
  const covers = (key: string, prefix: boolean): boolean => protectedKeys.some((p) => key.startsWith(p) || (prefix && p.startsWith(key)));
  const leases = new Set([ctx.lock.heldLease, ctx.lock.ownLease]);
  let reason: string | undefined;
  // Iterative, and no deeper than any request schema goes: bodies are nested 200,000 deep on purpose.
  const pending: { v: unknown; depth: number }[] = [{ v: body, depth: 0 }];
  while (pending.length > 0 && reason === undefined) {
    const { v, depth } = pending.pop()!;
    if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) continue;
    if (Array.isArray(v)) {
      for (const x of v) pending.push({ v: x, depth: depth + 1 });
      continue;
    }
    const o = v as Record<string, unknown>;
    const key = typeof o.key === 'string' ? o.key : undefined;
    if ((o.op === 'delete' || o.op === 'put') && key !== undefined && covers(key, o.op === 'delete' && o.prefix === true)) reason = `${o.op} of a fixture key ${JSON.stringify(key)}`;
    else if (o.op === 'leaseRevoke' && leases.has(o.id as number)) reason = 'revoke of a fixture lease';
    else if (o.type === 'compact' && typeof o.revision === 'number' && o.revision > ctx.store.compactRevision && o.revision < ctx.store.revision + 500_000) reason = 'a compaction that would take history away';
    else if (o.type === 'member' && ctx.replicaIds.includes((o.change as { node?: string } | undefined)?.node ?? '')) reason = 'a membership change of a replica';
    else if (o.type === 'transfer' && (o.to === undefined || ctx.replicaIds.includes(o.to as string))) reason = 'a leadership transfer';
    else if ((o.type === 'release' || o.type === 'cancel') && o.name === ctx.lock.heldName && o.lease === ctx.lock.heldLease) reason = `a ${o.type} of the held lock by its holder`;
    else if (o.type === 'revoke' && leases.has(o.lease as number)) reason = 'revoke of a fixture lease';
    else if (o.type === 'forceRelease' && o.name === ctx.lock.heldName && o.token === ctx.lock.heldToken) reason = 'a force-release of the held lock';
    else if (o.type === 'cas' && o.key === ctx.lock.casKey) reason = 'a compare-and-set of the fixture key';
    for (const x of Object.values(o)) pending.push({ v: x, depth: depth + 1 });
  }
  return reason;
}

/** Deeper than any request the store or the lock manager accepts (a txn's ops sit at depth 4). */
const MAX_DEPTH = 16;
