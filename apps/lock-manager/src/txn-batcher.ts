import { MAX_BATCH_OPS, SynodError, kvError, type TxnResult } from '@synod/protocol';
import type { StoreClient, TxnRequest } from '@synod/store-client';

export interface TxnCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Most txns in one batch, and most request bytes (JSON) a batch is filled to. */
const MAX_BATCH_TXNS = Math.min(64, MAX_BATCH_OPS);
const MAX_BATCH_BYTES = 128 * 1024;

interface Pending {
  txn: TxnRequest;
  /** Its JSON size, for the batch bound. */
  bytes: number;
  opts: TxnCallOptions;
  /** Local time by which the caller needs its answer. */
  deadline: number;
  resolve: (r: TxnResult) => void;
  reject: (e: unknown) => void;
  settled: boolean;
}

/**
 * The lock manager's txns on their way to the store. While fewer than `maxInFlight` store requests
 * are out, a txn goes at once, alone (an uncontended lock pays nothing). Txns arriving while the
 * limit is reached wait, and all that waited go together as one batch (`StoreClient.batch`: one
 * request, one log entry, each txn its own revision and outcome) when a request comes back. Under
 * load that is one store request for many acquires and releases instead of one each: fewer
 * messages through nats-server, fewer requests for the leader to decode, fewer replies.
 * `maxInFlight` 0 turns batching off (every txn its own request).
 */
/** Errors that mean "not this batch" rather than "not these txns". */
const BATCH_LEVEL = new Set(['PAYLOAD_TOO_LARGE', 'BAD_REQUEST', 'INTERNAL']);

export class TxnBatcher {
  private inFlight = 0;
  private queue: Pending[] = [];
  /** Store requests sent, and txns they carried (for metrics and tests). */
  readonly stats = { requests: 0, txns: 0, batches: 0 };

  constructor(
    private readonly store: StoreClient,
    private readonly maxInFlight: number,
    private readonly defaultTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  txn(txn: TxnRequest, opts: TxnCallOptions = {}): Promise<TxnResult> {
    if (this.maxInFlight <= 0) {
      this.stats.requests++;
      this.stats.txns++;
      return this.store.txn(txn, opts);
    }
    return new Promise<TxnResult>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      const p: Pending = { txn, bytes: JSON.stringify(txn).length, opts, deadline: this.now() + (opts.timeoutMs ?? this.defaultTimeoutMs), resolve, reject, settled: false };
      // An abort while queued takes the txn out of line; once sent, it may still apply (as any
      // request that was sent), but the caller is answered at once.
      opts.signal?.addEventListener('abort', () => this.settle(p, undefined, opts.signal!.reason), { once: true });
      this.queue.push(p);
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      this.queue = this.queue.filter((p) => !p.settled);
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && n < MAX_BATCH_TXNS && (n === 0 || bytes + this.queue[n]!.bytes <= MAX_BATCH_BYTES)) bytes += this.queue[n++]!.bytes;
      const batch = this.queue.splice(0, n);
      if (batch.length === 0) continue;
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    this.stats.requests++;
    this.stats.txns += batch.length;
    const timeoutMs = Math.max(1, Math.min(...batch.map((p) => p.deadline)) - this.now());
    if (batch.length === 1) {
      const p = batch[0]!;
      try {
        this.settle(p, await this.store.txn(p.txn, { ...(p.opts.signal ? { signal: p.opts.signal } : {}), timeoutMs }));
      } catch (err) {
        this.settle(p, undefined, err);
      }
      return;
    }
    this.stats.batches++;
    try {
      const r = await this.store.batch(
        batch.map((p) => ({ op: 'txn' as const, compare: p.txn.compare, success: p.txn.success, failure: p.txn.failure })),
        { timeoutMs },
      );
      if (r.results.length !== batch.length) throw new SynodError('BAD_GATEWAY', `a batch of ${batch.length} txns was answered with ${r.results.length} results`);
      batch.forEach((p, i) => {
        const o = r.results[i]!;
        if (!o.ok) return this.settle(p, undefined, kvError(o.error));
        if (o.result.op !== 'txn') return this.settle(p, undefined, new SynodError('BAD_GATEWAY', `a txn was answered with a ${o.result.op} result`));
        const { op: _op, ...result } = o.result;
        this.settle(p, result);
      });
    } catch (err) {
      if (err instanceof SynodError && !err.retryable && BATCH_LEVEL.has(err.code)) {
        // The batch as a whole was refused (too large a request, or a reply too large to send):
        // each txn goes again alone. Each is safe to repeat: an acquire's put is conditional on
        // the key's absence and its read answers either way; a release whose first copy applied
        // finds nothing to delete and is answered NOT_HOLDER, the lock being free all the same.
        await Promise.all(batch.map((p) => this.store.txn(p.txn, { timeoutMs: Math.max(1, p.deadline - this.now()) }).then((r) => this.settle(p, r), (e: unknown) => this.settle(p, undefined, e))));
        return;
      }
      for (const p of batch) this.settle(p, undefined, err);
    }
  }

  private settle(p: Pending, result: TxnResult | undefined, err?: unknown): void {
    if (p.settled) return;
    p.settled = true;
    if (result) p.resolve(result);
    else p.reject(err);
  }
}
