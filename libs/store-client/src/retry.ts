import { type ErrorCode, LEADER_DISCOVERY_BUDGET_MS, type SynodError } from '@synod/protocol';

export interface RetryPolicy {
  /** First backoff, in ms (default 50). */
  initialMs: number;
  /** Longest backoff, in ms (default 500: half the leader-discovery budget, see LEADER_DISCOVERY_BUDGET_MS). */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 50, maxMs: LEADER_DISCOVERY_BUDGET_MS / 2 };

/**
 * Codes the client retries by itself, within the call's deadline: the request did not reach a
 * leader that could serve it (no leader yet, a follower, a leadership change, back-pressure, a
 * draining replica) or its answer was lost (TIMEOUT: safe, since writes carry their session seq and
 * reads are idempotent).
 */
export const RETRIED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['NO_RESPONDERS', 'NOT_LEADER', 'UNAVAILABLE', 'OVERLOADED', 'SHUTTING_DOWN', 'TIMEOUT']);

export function isRetried(err: SynodError): boolean {
  return RETRIED_CODES.has(err.code) && err.retryable;
}

/**
 * Backoff before retry number `attempt` (1 for the first retry): exponential from `initialMs`,
 * capped at `maxMs`, with "equal jitter" (between half and all of it) so that clients that failed
 * together do not come back together.
 */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const exp = policy.initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 30);
  const cap = Math.min(policy.maxMs, exp);
  return cap / 2 + random() * (cap / 2);
}
