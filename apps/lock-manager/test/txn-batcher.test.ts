import { describe, expect, it } from 'vitest';
import { SynodError, type BatchResult, type BatchedWriteOp, type TxnResult } from '@synod/protocol';
import type { StoreClient, TxnRequest } from '@synod/store-client';
import { TxnBatcher } from '../src/txn-batcher.js';

/** A store whose requests the test answers by hand, in any order. */
class FakeStore {
  readonly sent: { kind: 'txn' | 'batch'; ops: TxnRequest[]; timeoutMs?: number; answer: (r: unknown) => void; fail: (e: unknown) => void }[] = [];

  txn(t: TxnRequest, opts: { timeoutMs?: number } = {}): Promise<TxnResult> {
    return new Promise((answer, fail) => this.sent.push({ kind: 'txn', ops: [t], ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }), answer: answer as (r: unknown) => void, fail }));
  }

  batch(ops: BatchedWriteOp[], opts: { timeoutMs?: number } = {}): Promise<BatchResult> {
    return new Promise((answer, fail) =>
      this.sent.push({ kind: 'batch', ops: ops.map((o) => o as unknown as TxnRequest), ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }), answer: answer as (r: unknown) => void, fail }),
    );
  }
}

const txn = (key: string): TxnRequest => ({ compare: [{ key, target: 'createRevision', op: '=', value: 0 }], success: [{ op: 'put', key, value: '' }], failure: [] });
const won = (revision: number): TxnResult => ({ revision, succeeded: true, results: [{ op: 'put', revision }] });
const tick = () => new Promise((r) => setImmediate(r));

/** One txn sent and answered; two more, queued meanwhile, sent as a batch that waits for its answer. */
async function batchOfTwoSent() {
  const store = new FakeStore();
  const b = new TxnBatcher(store as unknown as StoreClient, 1, 5000);
  const first = b.txn(txn('a'));
  const queued = [b.txn(txn('b')), b.txn(txn('c'))];
  store.sent[0]!.answer(won(1));
  await first;
  await tick();
  return { store, b, queued };
}

describe('TxnBatcher', () => {
  it('sends a txn at once when nothing is in flight, and batches the ones that arrive meanwhile', async () => {
    const store = new FakeStore();
    const b = new TxnBatcher(store as unknown as StoreClient, 1, 5000);
    const first = b.txn(txn('a'));
    expect(store.sent.map((s) => s.kind)).toEqual(['txn']);
    const rest = ['b', 'c', 'd'].map((k) => b.txn(txn(k)));
    await tick();
    expect(store.sent).toHaveLength(1);
    store.sent[0]!.answer(won(1));
    await expect(first).resolves.toEqual(won(1));
    await tick();
    expect(store.sent.map((s) => s.kind)).toEqual(['txn', 'batch']);
    const batch = store.sent[1]!;
    expect(batch.ops.map((o) => (o as unknown as { op: string; success: { key: string }[] }).success[0]!.key)).toEqual(['b', 'c', 'd']);
    expect(batch.ops.every((o) => (o as unknown as { op: string }).op === 'txn')).toBe(true);
    batch.answer({
      revision: 3,
      results: [
        { ok: true, result: { op: 'txn', ...won(2) } },
        { ok: false, error: { code: 'LEASE_NOT_FOUND', message: 'lease 9 does not exist' } },
        { ok: true, result: { op: 'txn', ...won(3) } },
      ],
    });
    const [b1, c1, d1] = await Promise.allSettled(rest);
    expect(b1).toEqual({ status: 'fulfilled', value: won(2) });
    expect(c1).toMatchObject({ status: 'rejected', reason: { code: 'LEASE_NOT_FOUND' } });
    expect((c1 as PromiseRejectedResult).reason).toBeInstanceOf(SynodError);
    expect(d1).toEqual({ status: 'fulfilled', value: won(3) });
    expect(b.stats).toEqual({ requests: 2, txns: 4, batches: 1 });
  });

  it('fails every txn of a batch the store refused, and goes on with the next ones', async () => {
    const { store, b, queued } = await batchOfTwoSent();
    store.sent[1]!.fail(new SynodError('UNAVAILABLE', 'no leader', { retryable: true }));
    for (const r of await Promise.allSettled(queued)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'UNAVAILABLE' } });
    const after = b.txn(txn('d'));
    expect(store.sent.map((s) => s.kind)).toEqual(['txn', 'batch', 'txn']);
    store.sent[2]!.answer(won(4));
    await expect(after).resolves.toEqual(won(4));
  });

  it('takes an aborted txn out of line before it is sent; the batch is bounded by the earliest deadline', async () => {
    let now = 1000;
    const store = new FakeStore();
    const b = new TxnBatcher(store as unknown as StoreClient, 1, 5000, () => now);
    const first = b.txn(txn('a'));
    const abort = new AbortController();
    const gone = b.txn(txn('b'), { signal: abort.signal, timeoutMs: 100 });
    const kept = [b.txn(txn('c'), { timeoutMs: 3000 }), b.txn(txn('d'), { timeoutMs: 2000 })];
    abort.abort(new Error('caller gave up'));
    await expect(gone).rejects.toThrow('caller gave up');
    now += 500;
    store.sent[0]!.answer(won(1));
    await first;
    await tick();
    const batch = store.sent[1]!;
    expect(batch.ops).toHaveLength(2);
    expect(batch.timeoutMs).toBe(1500);
    batch.answer({ revision: 3, results: [{ ok: true, result: { op: 'txn', ...won(2) } }, { ok: true, result: { op: 'txn', ...won(3) } }] });
    expect(await Promise.all(kept)).toEqual([won(2), won(3)]);
  });

  it('refuses a batch answer that does not match the batch', async () => {
    const { store, queued } = await batchOfTwoSent();
    store.sent[1]!.answer({ revision: 2, results: [{ ok: true, result: { op: 'txn', ...won(2) } }] });
    for (const r of await Promise.allSettled(queued)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'BAD_GATEWAY' } });
  });

  it('fills a batch up to 64 txns and 128 KiB of request', async () => {
    const store = new FakeStore();
    const b = new TxnBatcher(store as unknown as StoreClient, 1, 5000);
    const first = b.txn(txn('a'));
    const small = Array.from({ length: 70 }, (_, i) => b.txn(txn(`s${i}`)));
    const big = Array.from({ length: 3 }, (_, i) => b.txn(txn(`b${i}-${'x'.repeat(50_000)}`)));
    store.sent[0]!.answer(won(1));
    await first;
    const sizes: number[] = [];
    let rev = 1;
    for (let round = 0; round < 4; round++) {
      await tick();
      const s = store.sent.at(-1)!;
      sizes.push(s.ops.length);
      const results = s.ops.map(() => ({ ok: true, result: { op: 'txn', ...won(++rev) } }));
      s.answer(s.kind === 'txn' ? won(++rev) : { revision: rev, results });
    }
    await Promise.all([...small, ...big]);
    // 64 small; then 6 small and one big (100 KB: a second would pass 128 KiB); then each other big alone.
    expect(sizes).toEqual([64, 7, 1, 1]);
  });

  it('sends each txn alone when the store refuses the batch as a whole', async () => {
    const { store, queued } = await batchOfTwoSent();
    store.sent[1]!.fail(new SynodError('PAYLOAD_TOO_LARGE', 'too big'));
    await tick();
    expect(store.sent.map((s) => s.kind)).toEqual(['txn', 'batch', 'txn', 'txn']);
    store.sent[2]!.answer(won(2));
    store.sent[3]!.fail(new SynodError('LEASE_NOT_FOUND', 'gone'));
    const [r1, r2] = await Promise.allSettled(queued);
    expect(r1).toEqual({ status: 'fulfilled', value: won(2) });
    expect(r2).toMatchObject({ status: 'rejected', reason: { code: 'LEASE_NOT_FOUND' } });
  });

  it('with no batching, sends every txn as its own request', async () => {
    const store = new FakeStore();
    const b = new TxnBatcher(store as unknown as StoreClient, 0, 5000);
    const all = ['a', 'b', 'c'].map((k) => b.txn(txn(k)));
    expect(store.sent.map((s) => s.kind)).toEqual(['txn', 'txn', 'txn']);
    store.sent.forEach((s, i) => s.answer(won(i + 1)));
    expect(await Promise.all(all)).toEqual([won(1), won(2), won(3)]);
  });
});
