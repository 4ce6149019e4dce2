import type { KvWriteOp, KvWriteResult, TxnOp, Compare, KvError } from '@synod/protocol';
import { type KvApplyResult, type KvCommand, KvStateMachine, type KvStateMachineOptions } from '../src/index.js';

/**
 * Drives a machine the way a replica would: consecutive log indexes, one client with increasing
 * seqs. `write` returns the apply result; the typed helpers unwrap a success (and fail the test on
 * an error).
 */
export class Driver {
  index = 0;
  seq = 0;
  constructor(
    public m: KvStateMachine = new KvStateMachine(),
    readonly clientId = 'client-1',
  ) {}

  static create(options?: KvStateMachineOptions): Driver {
    return new Driver(new KvStateMachine(options));
  }

  command(cmd: KvCommand): KvApplyResult {
    return this.m.apply(++this.index, cmd);
  }

  write(op: KvWriteOp): KvApplyResult {
    this.seq++;
    return this.command({ type: 'request', session: { clientId: this.clientId, seq: this.seq, ackBelow: this.seq }, op });
  }

  private must<T extends KvWriteResult['op']>(op: T, r: KvApplyResult): Extract<KvWriteResult, { op: T }> {
    if (!r.ok) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
    if (r.result.op !== op) throw new Error(`expected a ${op} result, got ${r.result.op}`);
    return r.result as Extract<KvWriteResult, { op: T }>;
  }

  put(key: string, value: string, extra: Partial<Extract<KvWriteOp, { op: 'put' }>> = {}) {
    return this.must('put', this.write({ op: 'put', key, value, ...extra }));
  }

  del(key: string, extra: Partial<Extract<KvWriteOp, { op: 'delete' }>> = {}) {
    return this.must('delete', this.write({ op: 'delete', key, ...extra }));
  }

  txn(compare: Compare[], success: TxnOp[], failure: TxnOp[] = []) {
    return this.must('txn', this.write({ op: 'txn', compare, success, failure }));
  }

  grant(ttlMs: number, id?: number) {
    return this.must('leaseGrant', this.write({ op: 'leaseGrant', ttlMs, ...(id === undefined ? {} : { id }) }));
  }

  revoke(id: number) {
    return this.must('leaseRevoke', this.write({ op: 'leaseRevoke', id }));
  }

  /** The error of a write that must fail. */
  fail(op: KvWriteOp): KvError {
    const r = this.write(op);
    if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.result)}`);
    return r.error;
  }

  get(key: string) {
    const r = this.m.range({ key });
    if (!r.ok) throw new Error(r.error.message);
    return r.result.kvs[0];
  }
}
