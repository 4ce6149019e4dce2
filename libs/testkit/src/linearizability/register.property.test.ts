import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizability, kvModel, seededRandom, type KvInput, type KvOutput, type Operation } from '../index.js';

type KvOp = Operation<KvInput, KvOutput>;

/** One operation a simulated client will issue, with the durations that place it in time. */
interface Planned {
  kind: 'put' | 'get' | 'cas';
  key: number;
  value: number;
  /** For cas: the expected value index, or null for "absent". */
  expected: number | null;
  /** Idle time before the call, call-to-effect and effect-to-return durations. */
  gap: number;
  before: number;
  after: number;
  /** The client gives up waiting (outcome unknown); `applied` says whether the effect still happened. */
  timedOut: boolean;
  applied: boolean;
}

const NEVER_WRITTEN = 'never-written';

/**
 * Runs the planned operations against a real atomic in-memory store: every operation takes effect at one
 * instant between its call and its return (ties broken by client), so the recorded history is
 * linearizable by construction. Timed-out operations are recorded with `return: Infinity` and no output,
 * and take effect or not as planned.
 */
function simulate(plans: readonly (readonly Planned[])[]): KvOp[] {
  const scheduled: { client: number; p: Planned; call: number; instant: number; ret: number; id: number }[] = [];
  plans.forEach((ops, client) => {
    let t = 0;
    for (const p of ops) {
      const call = t + p.gap;
      const instant = call + p.before;
      const ret = instant + p.after;
      scheduled.push({ client, p, call, instant, ret, id: scheduled.length });
      t = ret;
    }
  });
  const store = new Map<string, string>();
  const history: KvOp[] = [];
  for (const s of [...scheduled].sort((a, b) => a.instant - b.instant || a.client - b.client)) {
    const key = `k${s.p.key}`;
    const current = store.get(key) ?? null;
    const value = `v${s.p.value}`;
    const effective = !s.p.timedOut || s.p.applied;
    let input: KvInput;
    let output: KvOutput;
    if (s.p.kind === 'put') {
      input = { op: 'put', key, value };
      output = { ok: true };
      if (effective) store.set(key, value);
    } else if (s.p.kind === 'get') {
      input = { op: 'get', key };
      output = { value: current };
    } else {
      const expected = s.p.expected === null ? null : `v${s.p.expected}`;
      input = { op: 'cas', key, expected, value };
      output = { ok: current === expected };
      if (current === expected && effective) store.set(key, value);
    }
    history.push(
      s.p.timedOut
        ? { id: s.id, clientId: s.client, input, output: undefined, call: s.call, return: Infinity }
        : { id: s.id, clientId: s.client, input, output, call: s.call, return: s.ret },
    );
  }
  return history.sort((a, b) => a.id - b.id);
}

const plannedArb: fc.Arbitrary<Planned> = fc.record({
  kind: fc.constantFrom('put', 'get', 'get', 'cas'),
  key: fc.integer({ min: 0, max: 2 }),
  value: fc.integer({ min: 0, max: 3 }),
  expected: fc.option(fc.integer({ min: 0, max: 3 }), { freq: 3 }),
  // Small integer durations produce many equal times, which exercises the tie convention.
  gap: fc.integer({ min: 0, max: 4 }),
  before: fc.integer({ min: 0, max: 4 }),
  after: fc.integer({ min: 0, max: 4 }),
  timedOut: fc.integer({ min: 0, max: 11 }).map((n) => n === 0),
  applied: fc.boolean(),
});
const plansArb = fc.array(fc.array(plannedArb, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 5 });

/** The same plan shape drawn from the seeded PRNG, for histories too large for fast-check to shrink usefully. */
function randomPlans(seed: number, clients: number, opsPerClient: number, keys: number, timeoutRate: number): Planned[][] {
  const rand = seededRandom(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  return Array.from({ length: clients }, () =>
    Array.from({ length: opsPerClient }, (): Planned => ({
      kind: (['put', 'get', 'get', 'cas'] as const)[int(4)]!,
      key: int(keys),
      value: int(6),
      expected: rand() < 0.25 ? null : int(6),
      gap: int(4),
      before: int(6),
      after: int(6),
      timedOut: rand() < timeoutRate,
      applied: rand() < 0.5,
    })),
  );
}

/** Replaces the output of the `pick`-th get with a known output by a value no operation ever wrote. */
function corruptOneRead(history: KvOp[], pick: number): { history: KvOp[]; corrupted: KvOp } | undefined {
  const reads = history.filter((op) => op.input.op === 'get' && op.output !== undefined);
  const target = reads[pick % Math.max(1, reads.length)];
  if (target === undefined) return undefined;
  const corrupted: KvOp = { ...target, output: { value: NEVER_WRITTEN } };
  return { history: history.map((op) => (op === target ? corrupted : op)), corrupted };
}

/**
 * An independent, exhaustive definition of linearizability for the key-value store, for tiny histories:
 * try every order that respects real time (A before B whenever A.return < B.call), where an operation
 * with an unknown outcome may also be left out entirely (it never took effect) and matches any output.
 */
function bruteForceLinearizable(history: readonly KvOp[]): boolean {
  const done = new Array<boolean>(history.length).fill(false);
  const end = (op: KvOp): number => (op.output === undefined ? Infinity : op.return);
  const search = (store: ReadonlyMap<string, string>, left: number): boolean => {
    if (left === 0) return true;
    for (const [i, op] of history.entries()) {
      if (done[i]) continue;
      if (history.some((p, j) => !done[j] && end(p) < op.call)) continue;
      done[i] = true;
      if (op.output === undefined && search(store, left - 1)) return (done[i] = false), true;
      const current = store.get(op.input.key) ?? null;
      let after: ReadonlyMap<string, string> | undefined = store;
      const out = op.output;
      if (op.input.op === 'put') {
        if (out === undefined || ('ok' in out && out.ok)) after = new Map(store).set(op.input.key, op.input.value);
      } else if (op.input.op === 'get') {
        if (out !== undefined && !('value' in out && out.value === current)) after = undefined;
      } else {
        const success = current === op.input.expected;
        if (out !== undefined && !('ok' in out && out.ok === success)) after = undefined;
        else if (success) after = new Map(store).set(op.input.key, op.input.value);
      }
      const found = after !== undefined && search(after, left - 1);
      done[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map(), history.length);
}

/** Tiny histories with arbitrary (mostly wrong) outputs, so both answers are common. */
const tinyHistoryArb: fc.Arbitrary<KvOp[]> = fc
  .array(
    fc.record({
      call: fc.integer({ min: 0, max: 6 }),
      duration: fc.integer({ min: 0, max: 4 }),
      key: fc.constantFrom('a', 'a', 'b'),
      kind: fc.constantFrom('put', 'get', 'cas'),
      value: fc.constantFrom('x', 'y'),
      expected: fc.constantFrom(null, 'x', 'y'),
      read: fc.constantFrom(null, 'x', 'y'),
      ok: fc.boolean(),
      unknown: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 7 },
  )
  .map((rows) =>
    rows.map((r, id): KvOp => {
      const input: KvInput =
        r.kind === 'put' ? { op: 'put', key: r.key, value: r.value } : r.kind === 'get' ? { op: 'get', key: r.key } : { op: 'cas', key: r.key, expected: r.expected, value: r.value };
      const output: KvOutput = r.kind === 'put' ? { ok: true } : r.kind === 'get' ? { value: r.read } : { ok: r.ok };
      return r.unknown
        ? { id, clientId: id, input, output: undefined, call: r.call, return: Infinity }
        : { id, clientId: id, input, output, call: r.call, return: r.call + r.duration };
    }),
  );

describe('the checker', () => {
  it('agrees with an exhaustive search on tiny random histories', () => {
    let violations = 0;
    fc.assert(
      fc.property(tinyHistoryArb, (history) => {
        const expected = bruteForceLinearizable(history);
        const result = checkLinearizability(kvModel, history);
        if (result.outcome === 'violation') violations++;
        expect(result.outcome).toBe(expected ? 'ok' : 'violation');
      }),
      { numRuns: 2000 },
    );
    // Both answers must actually have been exercised.
    expect(violations).toBeGreaterThan(100);
    expect(violations).toBeLessThan(1900);
  });
});

describe('histories of a real atomic register', () => {
  it('are always linearizable', () => {
    fc.assert(
      fc.property(plansArb, (plans) => {
        const result = checkLinearizability(kvModel, simulate(plans));
        expect(result.outcome).toBe('ok');
      }),
      { numRuns: 300 },
    );
  });

  it('stop being linearizable when one read returns a value never written', () => {
    fc.assert(
      fc.property(plansArb, fc.nat(), (plans, pick) => {
        const corrupted = corruptOneRead(simulate(plans), pick);
        fc.pre(corrupted !== undefined);
        const result = checkLinearizability(kvModel, corrupted!.history);
        expect(result.outcome).toBe('violation');
        if (result.outcome === 'violation') expect(result.ops.every((op) => op.input.key === corrupted!.corrupted.input.key)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('checks 500 operations over 5 keys and 5 clients well under a second, pass or fail', () => {
    const history = simulate(randomPlans(20240611, 5, 100, 5, 0.01));
    expect(history).toHaveLength(500);

    let started = performance.now();
    const ok = checkLinearizability(kvModel, history);
    const okMs = performance.now() - started;
    expect(ok.outcome).toBe('ok');

    // A read late in the history, so that proving the violation means backtracking through most of it.
    const reads = history.filter((op) => op.input.op === 'get' && op.output !== undefined).length;
    const corrupted = corruptOneRead(history, Math.floor(reads * 0.9))!;
    started = performance.now();
    const bad = checkLinearizability(kvModel, corrupted.history);
    const badMs = performance.now() - started;
    expect(bad.outcome).toBe('violation');
    if (bad.outcome === 'violation') expect(bad.message).toContain(NEVER_WRITTEN);

    console.log(`500 ops: ok in ${okMs.toFixed(1)} ms (${ok.explored} states), violation in ${badMs.toFixed(1)} ms (${bad.explored} states)`);
    expect(okMs).toBeLessThan(1000);
    expect(badMs).toBeLessThan(1000);
  });

  it('replays a seeded large history identically, including the explored count', () => {
    const plans = randomPlans(7, 5, 100, 5, 0.02);
    expect(checkLinearizability(kvModel, simulate(plans))).toEqual(checkLinearizability(kvModel, simulate(randomPlans(7, 5, 100, 5, 0.02))));
  });
});
