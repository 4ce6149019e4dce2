/**
 * The optimistic API stores each value wrapped with the ids of the last few compare-and-sets that
 * wrote it, so a re-sent cas (its reply was lost, the client retried on another instance) is
 * recognised and answered with the version it produced instead of being applied twice.
 */
export const RECENT_OPS = 16;

export interface Wrapped {
  v: string;
  /** [opId, version it produced], oldest first. */
  ops: [string, number][];
}

export function wrap(value: string, previous: Wrapped | undefined, opId: string | undefined, version: number): string {
  const ops = [...(previous?.ops ?? [])];
  if (opId !== undefined) ops.push([opId, version]);
  return JSON.stringify({ v: value, ops: ops.slice(-RECENT_OPS) } satisfies Wrapped);
}

/** Reads a stored value; a value not written by the lock manager is taken as is. */
export function unwrap(raw: string): Wrapped {
  try {
    const o = JSON.parse(raw) as Partial<Wrapped>;
    if (o && typeof o === 'object' && typeof o.v === 'string' && Array.isArray(o.ops)) {
      const ops = o.ops.filter((x): x is [string, number] => Array.isArray(x) && typeof x[0] === 'string' && typeof x[1] === 'number');
      return { v: o.v, ops };
    }
  } catch {
    // not ours
  }
  return { v: raw, ops: [] };
}

export function appliedVersion(w: Wrapped, opId: string | undefined): number | undefined {
  if (opId === undefined) return undefined;
  return w.ops.find(([id]) => id === opId)?.[1];
}
