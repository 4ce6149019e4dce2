import { describe, expect, it } from 'vitest';
import { checkLinearizability, describeOperation, kvModel, type CheckResult, type KvInput, type KvOutput, type Model, type Operation } from '../index.js';

type KvOp = Operation<KvInput, KvOutput>;

/** Builds a key-value history; ids follow insertion order. */
function kvHistory() {
  const ops: KvOp[] = [];
  const add = (clientId: number, call: number, ret: number, input: KvInput, output: KvOutput | undefined): KvOp => {
    const op: KvOp = { id: ops.length, clientId, input, output, call, return: ret };
    ops.push(op);
    return op;
  };
  return {
    ops,
    put: (client: number, call: number, ret: number, key: string, value: string) => add(client, call, ret, { op: 'put', key, value }, { ok: true }),
    get: (client: number, call: number, ret: number, key: string, value: string | null) => add(client, call, ret, { op: 'get', key }, { value }),
    cas: (client: number, call: number, ret: number, key: string, expected: string | null, value: string, ok: boolean) =>
      add(client, call, ret, { op: 'cas', key, expected, value }, { ok }),
    /** The client timed out: the write may or may not have happened. */
    unknownPut: (client: number, call: number, key: string, value: string) => add(client, call, Infinity, { op: 'put', key, value }, undefined),
    unknownCas: (client: number, call: number, key: string, expected: string | null, value: string) =>
      add(client, call, Infinity, { op: 'cas', key, expected, value }, undefined),
    unknownGet: (client: number, call: number, key: string) => add(client, call, Infinity, { op: 'get', key }, undefined),
  };
}

function expectViolation<I, O>(result: CheckResult<I, O>) {
  if (result.outcome !== 'violation') throw new Error(`expected a violation, got ${JSON.stringify(result)}`);
  return result;
}

const ids = (ops: readonly { id: number }[]): number[] => ops.map((op) => op.id);

describe('linearizable histories', () => {
  it('accepts an empty history', () => {
    expect(checkLinearizability(kvModel, [])).toEqual({ outcome: 'ok', explored: 0 });
  });

  it('accepts a sequential history of puts, gets and CAS', () => {
    const h = kvHistory();
    h.get(1, 0, 1, 'a', null);
    h.put(1, 2, 3, 'a', '1');
    h.get(1, 4, 5, 'a', '1');
    h.cas(1, 6, 7, 'a', '1', '2', true);
    h.cas(1, 8, 9, 'a', '1', '3', false);
    h.get(1, 10, 11, 'a', '2');
    h.cas(1, 12, 13, 'b', null, 'x', true);
    h.get(1, 14, 15, 'b', 'x');
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('ok');
  });

  it('accepts overlapping writes with concurrent reads seeing either value, in either order', () => {
    const h = kvHistory();
    h.put(1, 0, 10, 'a', 'x');
    h.put(2, 0, 10, 'a', 'y');
    h.get(3, 1, 3, 'a', 'y');
    h.get(3, 4, 6, 'a', 'x');
    h.get(4, 2, 9, 'a', 'x');
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('ok');
  });

  it('accepts either final value once overlapping writes have both returned', () => {
    for (const final of ['x', 'y']) {
      const h = kvHistory();
      h.put(1, 0, 10, 'a', 'x');
      h.put(2, 5, 15, 'a', 'y');
      h.get(3, 20, 21, 'a', final);
      h.get(1, 22, 23, 'a', final);
      expect(checkLinearizability(kvModel, h.ops).outcome, final).toBe('ok');
    }
  });

  it('accepts a read that sees a write before the write returned', () => {
    const h = kvHistory();
    h.put(1, 0, 10, 'a', 'new');
    h.get(2, 2, 3, 'a', 'new');
    h.get(3, 4, 5, 'a', 'new');
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('ok');
  });

  it('accepts an unknown-outcome write that took effect, even after its client gave up', () => {
    const h = kvHistory();
    h.put(1, 0, 1, 'a', 'old');
    h.unknownPut(2, 2, 'a', 'new');
    h.get(3, 3, 4, 'a', 'old');
    h.get(3, 100, 101, 'a', 'new');
    h.get(4, 200, 201, 'a', 'new');
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('ok');
  });

  it('accepts an unknown-outcome write that never took effect', () => {
    const h = kvHistory();
    h.put(1, 0, 1, 'a', 'old');
    h.unknownPut(2, 2, 'a', 'new');
    h.get(3, 3, 4, 'a', 'old');
    h.get(3, 100, 101, 'a', 'old');
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('ok');
  });

  it('accepts an unknown-outcome CAS that did or did not succeed', () => {
    for (const seen of ['old', 'new']) {
      const h = kvHistory();
      h.put(1, 0, 1, 'a', 'old');
      h.unknownCas(2, 2, 'a', 'old', 'new');
      h.get(3, 10, 11, 'a', seen);
      expect(checkLinearizability(kvModel, h.ops).outcome, seen).toBe('ok');
    }
  });

  it('drops reads with an unknown outcome before searching', () => {
    const h = kvHistory();
    h.unknownGet(1, 0, 'a');
    h.unknownGet(2, 5, 'b');
    // A zero budget proves nothing was searched: the reads were removed, not explored.
    expect(checkLinearizability(kvModel, h.ops, { maxStates: 0 })).toEqual({ outcome: 'ok', explored: 0 });
  });

  it('treats equal times as overlap: a read called when a write returns may still miss it', () => {
    const h = kvHistory();
    h.put(1, 0, 5, 'a', 'x');
    h.get(2, 5, 6, 'a', null);
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('ok');
  });
});

describe('violations', () => {
  it('reports a stale read (a read starting after a write returned sees the older value)', () => {
    const h = kvHistory();
    const write = h.put(1, 0, 1, 'a', 'old');
    const overwrite = h.put(1, 2, 3, 'a', 'new');
    const stale = h.get(2, 4, 5, 'a', 'old');
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(r.partition).toBe(0);
    expect(r.stuck).toBe(stale);
    expect(ids(r.linearized)).toEqual([write.id, overwrite.id]);
    expect(ids(r.ops)).toEqual([write.id, overwrite.id, stale.id]);
    expect(r.message).toContain('op 2, client 2, t=[4, 5]: get(a) -> "old"');
    expect(r.message).toContain('state after the prefix: "new"');
    console.log(r.message);
  });

  it('reports a lost write (acknowledged, never visible to a read that must see it)', () => {
    const h = kvHistory();
    h.put(1, 0, 1, 'a', 'v1');
    const lost = h.put(2, 2, 3, 'a', 'v2');
    h.get(3, 4, 5, 'a', 'v2');
    const reader = h.get(3, 6, 7, 'a', 'v1');
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(ids(r.ops)).toEqual(expect.arrayContaining([lost.id, reader.id]));
    expect(r.stuck).toBe(reader);
    expect(r.message).toContain('put(a, "v2") -> ok');
    expect(r.message).toContain('op 3, client 3, t=[6, 7]: get(a) -> "v1"');
  });

  it('reports a read of a value nobody wrote', () => {
    const h = kvHistory();
    h.put(1, 0, 10, 'a', 'x');
    h.put(2, 0, 10, 'a', 'y');
    const phantom = h.get(3, 5, 6, 'a', 'z');
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(r.stuck).toBe(phantom);
    expect(r.message).toContain('get(a) -> "z"');
  });

  it('reports a CAS that succeeded although the current value could not have matched', () => {
    const h = kvHistory();
    const write = h.put(1, 0, 1, 'a', 'x');
    const cas = h.cas(2, 2, 3, 'a', null, 'y', true);
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(ids(r.ops)).toEqual([write.id, cas.id]);
    expect(r.stuck).toBe(cas);
    expect(r.message).toContain('cas(a, null -> "y") -> ok');
  });

  it('reports a CAS that failed although the value matched', () => {
    const h = kvHistory();
    h.put(1, 0, 1, 'a', 'x');
    const cas = h.cas(2, 2, 3, 'a', 'x', 'y', false);
    expect(expectViolation(checkLinearizability(kvModel, h.ops)).stuck).toBe(cas);
  });

  it('reports values flip-flopping after all writes returned', () => {
    const h = kvHistory();
    h.put(1, 0, 10, 'a', 'x');
    h.put(2, 0, 10, 'a', 'y');
    const first = h.get(3, 11, 12, 'a', 'x');
    const second = h.get(3, 13, 14, 'a', 'y');
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(ids(r.ops)).toEqual(expect.arrayContaining([first.id, second.id]));
  });

  it('reports an unknown-outcome write that is seen and then un-seen', () => {
    const h = kvHistory();
    const maybe = h.unknownPut(1, 0, 'a', 'x');
    h.get(2, 5, 6, 'a', 'x');
    const revert = h.get(2, 7, 8, 'a', null);
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(r.stuck).toBe(revert);
    expect(ids(r.ops)).toContain(maybe.id);
    expect(r.message).toContain('t=[0, unknown]: put(a, "x") -> unknown (no response)');
  });

  it('treats a strictly later call as ordered after the return', () => {
    const h = kvHistory();
    h.put(1, 0, 5, 'a', 'x');
    h.get(2, 5.5, 6, 'a', null);
    expect(checkLinearizability(kvModel, h.ops).outcome).toBe('violation');
  });

  it('checks each key on its own and names the failing partition', () => {
    const h = kvHistory();
    h.put(1, 0, 1, 'a', '1');
    h.put(1, 2, 3, 'b', '1');
    h.get(2, 4, 5, 'a', '1');
    h.put(2, 6, 7, 'b', '2');
    const stale = h.get(3, 8, 9, 'b', '1');
    h.get(3, 10, 11, 'a', '1');
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(r.partition).toBe(1);
    expect(r.ops.every((op) => op.input.key === 'b')).toBe(true);
    expect(r.stuck).toBe(stale);
    expect(r.message).toMatch(/^not linearizable: partition 1 \(of 2, 3 operations\)/);
    // The same history restricted to key a is fine.
    expect(checkLinearizability(kvModel, h.ops.filter((op) => op.input.key === 'a')).outcome).toBe('ok');
  });

  it('shortens a long prefix in the message but returns it whole', () => {
    const h = kvHistory();
    for (let i = 0; i < 30; i++) h.put(1, 2 * i, 2 * i + 1, 'a', `v${i}`);
    h.get(2, 100, 101, 'a', 'v3');
    const r = expectViolation(checkLinearizability(kvModel, h.ops));
    expect(r.linearized).toHaveLength(30);
    expect(r.message).toContain('(last 12 of 30)');
    expect(r.message.split('\n').length).toBeLessThan(20);
  });
});

describe('budget', () => {
  /** Many overlapping writes followed by an impossible read: every order of the writes must be ruled out. */
  function pathological(writers: number): KvOp[] {
    const h = kvHistory();
    for (let c = 0; c < writers; c++) h.put(c, 0, 100, 'a', `v${c}`);
    h.get(writers, 200, 201, 'a', 'never written');
    return h.ops;
  }

  it('gives up with budget-exceeded, never ok, once maxStates states are explored', () => {
    const r = checkLinearizability(kvModel, pathological(20), { maxStates: 1000 });
    expect(r).toEqual({ outcome: 'budget-exceeded', explored: 1000, partition: 0 });
  });

  it('does not pass a trivially linearizable history it had no budget to check', () => {
    const h = kvHistory();
    h.put(1, 0, 1, 'a', 'x');
    expect(checkLinearizability(kvModel, h.ops, { maxStates: 0 }).outcome).toBe('budget-exceeded');
  });

  it('shares one budget over all partitions and names the one it ran out in', () => {
    const h = kvHistory();
    for (let i = 0; i < 5; i++) h.put(1, 2 * i, 2 * i + 1, 'a', `v${i}`);
    for (let i = 0; i < 5; i++) h.put(1, 20 + 2 * i, 21 + 2 * i, 'b', `v${i}`);
    expect(checkLinearizability(kvModel, h.ops, { maxStates: 10 })).toEqual({ outcome: 'ok', explored: 10 });
    expect(checkLinearizability(kvModel, h.ops, { maxStates: 7 })).toEqual({ outcome: 'budget-exceeded', explored: 7, partition: 1 });
  });

  it('finds the pathological violation with enough budget, memoization keeping it small', () => {
    const r = checkLinearizability(kvModel, pathological(12));
    expect(r.outcome).toBe('violation');
    // Without memoization this would be 12! orders; with it, at most (subsets x last writer) states.
    expect(r.explored).toBeLessThanOrEqual(2 ** 12 * 13);
  });
});

describe('malformed input', () => {
  it('rejects duplicate ids, returns before calls and partitions that lose operations', () => {
    const h = kvHistory();
    const op = h.put(1, 0, 1, 'a', 'x');
    expect(() => checkLinearizability(kvModel, [op, op])).toThrow(/duplicate operation id 0/);
    expect(() => checkLinearizability(kvModel, [{ ...op, return: -1 }])).toThrow(/before call/);
    expect(() => checkLinearizability(kvModel, [{ ...op, call: NaN }])).toThrow(/call time/);
    const lossy: Model<string | null, KvInput, KvOutput> = { ...kvModel, partition: () => [] };
    expect(() => checkLinearizability(lossy, [op])).toThrow(/exactly one part/);
  });
});

describe('a model without partitioning', () => {
  type QIn = { op: 'enq'; value: number } | { op: 'deq' };
  type QOut = { value: number | null } | { ok: true };
  // A FIFO queue: unlike a map, it has no independent parts, so the whole history is one search.
  const queue: Model<readonly number[], QIn, QOut> = {
    init: () => [],
    step(state, input, output) {
      if (input.op === 'enq') return { ok: true, state: [...state, input.value] };
      const head = state[0] ?? null;
      const ok = output === undefined || ('value' in output && output.value === head);
      return { ok, state: state.slice(1) };
    },
    key: (state) => state.join(','),
    describe: (input, output) =>
      input.op === 'enq' ? `enq(${input.value})` : `deq() -> ${output === undefined ? 'unknown' : 'value' in output ? String(output.value) : '?'}`,
  };
  const op = (id: number, call: number, ret: number, input: QIn, output: QOut): Operation<QIn, QOut> => ({ id, clientId: id, input, output, call, return: ret });

  it('accepts concurrent enqueues dequeued in either order and reports an out-of-order dequeue', () => {
    const ok = [op(0, 0, 10, { op: 'enq', value: 1 }, { ok: true }), op(1, 0, 10, { op: 'enq', value: 2 }, { ok: true }), op(2, 11, 12, { op: 'deq' }, { value: 2 }), op(3, 13, 14, { op: 'deq' }, { value: 1 })];
    expect(checkLinearizability(queue, ok).outcome).toBe('ok');
    const bad = [op(0, 0, 1, { op: 'enq', value: 1 }, { ok: true }), op(1, 2, 3, { op: 'enq', value: 2 }, { ok: true }), op(2, 4, 5, { op: 'deq' }, { value: 2 })];
    const r = expectViolation(checkLinearizability(queue, bad));
    expect(r.partition).toBe(0);
    expect(r.message).toContain(describeOperation(queue, bad[2]!));
    expect(r.message).toContain('state after the prefix: 1,2');
  });
});
