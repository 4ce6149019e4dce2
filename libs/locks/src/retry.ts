/** Codes of a lock-manager instance (or the store behind it) that are worth sending again. */
export const RETRIED_CODES: ReadonlySet<string> = new Set(['NO_RESPONDERS', 'UNAVAILABLE', 'TIMEOUT', 'SHUTTING_DOWN', 'OVERLOADED', 'NOT_LEADER']);

/** Exponential backoff with equal jitter: between half and all of min(maxMs, initialMs * 2^(attempt-1)). */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  return cap / 2 + random() * (cap / 2);
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
