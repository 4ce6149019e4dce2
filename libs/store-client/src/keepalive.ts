import { type KeepAliveResult, SynodError, toSynodError } from '@synod/protocol';
import type { Clock } from './clock.js';
import { type RetryPolicy, backoffMs, isRetried } from './retry.js';

export interface KeepAliveOptions {
  /** Called once when the lease is lost (gone from the store, or not kept alive for a whole TTL). */
  onLost?: (err: SynodError) => void;
  /** Called after each successful keep-alive. */
  onKeepAlive?: (r: KeepAliveResult) => void;
}

/** A running keep-alive. */
export interface KeepAliveHandle {
  readonly leaseId: number;
  /** Aborted, with the SynodError as reason, when the lease is lost (not by `stop()`). */
  readonly signal: AbortSignal;
  /** The lease's TTL once the first keep-alive answered. */
  readonly ttlMs: number | undefined;
  /** Resolves when the loop has ended (stopped or lost). */
  readonly done: Promise<void>;
  /** Stops sending keep-alives; the lease then expires after its TTL unless revoked. */
  stop(): void;
}

export interface KeepAliveHost {
  clock: Clock;
  random: () => number;
  retry: RetryPolicy;
  timeoutMs: number;
  keepAliveOnce(id: number, opts: { timeoutMs: number; signal: AbortSignal }): Promise<KeepAliveResult>;
  onEnd(h: KeepAliveHandle): void;
}

/**
 * Sends a keep-alive every TTL/3. A failed one (after the call's own retries) is tried again with
 * backoff; if none succeeded within a TTL of the last one that did, the leader may have expired
 * the lease and it is reported lost. The first keep-alive, sent at once, learns the TTL; if it
 * fails the lease is reported lost too.
 */
export function startKeepAlive(host: KeepAliveHost, leaseId: number, opts: KeepAliveOptions): KeepAliveHandle {
  const lostController = new AbortController();
  const stopController = new AbortController();
  let ttlMs: number | undefined;
  let ended = false;

  const lose = (err: SynodError) => {
    if (ended) return;
    ended = true;
    lostController.abort(err);
    try {
      opts.onLost?.(err);
    } catch {
      // A throwing callback must not break the loop's cleanup.
    }
  };

  const loop = async () => {
    const { clock } = host;
    // Time at which the last successful keep-alive was sent: the lease lives at least until then + TTL.
    let lastOk: number | undefined;
    let failures = 0;
    while (!stopController.signal.aborted && !ended) {
      const sentAt = clock.now();
      const budget = lastOk === undefined || ttlMs === undefined ? host.timeoutMs : Math.min(host.timeoutMs, lastOk + ttlMs - sentAt);
      try {
        if (budget < 1) throw new SynodError('TIMEOUT', 'no time left');
        const r = await host.keepAliveOnce(leaseId, { timeoutMs: budget, signal: stopController.signal });
        ttlMs = r.ttlMs;
        lastOk = sentAt;
        failures = 0;
        try {
          opts.onKeepAlive?.(r);
        } catch {
          // The caller's callback failing says nothing about the lease.
        }
      } catch (err) {
        if (stopController.signal.aborted) break;
        const e = toSynodError(err);
        if (e.code === 'LEASE_NOT_FOUND' || !isRetried(e)) {
          lose(e);
          break;
        }
        if (lastOk === undefined || ttlMs === undefined || clock.now() >= lastOk + ttlMs) {
          lose(
            new SynodError('TIMEOUT', `lease ${leaseId} presumed lost: no keep-alive succeeded within its TTL${ttlMs === undefined ? '' : ` of ${ttlMs} ms`} (last error ${e.code}: ${e.message})`, {
              cause: e,
              retryable: false,
              details: { leaseId, ttlMs, lastError: e.code },
            }),
          );
          break;
        }
        failures++;
        await clock.sleep(backoffMs(failures, host.retry, host.random), stopController.signal);
        continue;
      }
      await clock.sleep(Math.max(1, ttlMs / 3 - (clock.now() - sentAt)), stopController.signal);
    }
  };

  const { promise: done, resolve: resolveDone } = Promise.withResolvers<void>();
  const handle: KeepAliveHandle = {
    leaseId,
    signal: lostController.signal,
    get ttlMs() {
      return ttlMs;
    },
    done,
    stop() {
      stopController.abort();
    },
  };
  void loop()
    .catch((err: unknown) => lose(toSynodError(err)))
    .finally(() => {
    ended = true;
    host.onEnd(handle);
    resolveDone();
  });
  return handle;
}
