import type { KvWriteOp } from '@synod/protocol';

/**
 * A lease grant below the store's minimum TTL, raised to it (the answer carries the TTL granted);
 * every other write as it is.
 */
export function raiseLeaseTtl(op: KvWriteOp, minTtlMs: number): KvWriteOp {
  return op.op === 'leaseGrant' && op.ttlMs < minTtlMs ? { ...op, ttlMs: minTtlMs } : op;
}
