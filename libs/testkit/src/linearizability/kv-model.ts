import type { Model, Operation } from './model.js';

/** A key-value store operation as the simulator's clients issue it. */
export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'cas'; key: string; expected: string | null; value: string };

/**
 * Responses: `put` answers `{ ok: true }` (`{ ok: false }` means the store definitely refused it, so it had
 * no effect); `get` answers `{ value }` (`null` for an absent key); `cas` answers `{ ok }`, true iff the
 * current value was `expected` and is now `value`.
 */
export type KvOutput = { ok: boolean } | { value: string | null };

/** The value of the single key a partition is about (`null`: absent). */
export type KvState = string | null;

const show = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));

/**
 * Sequential specification of a linearizable key-value store, partitioned per key: operations on different
 * keys never constrain each other, so each key's sub-history is checked alone and the state is just that
 * key's value.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,

  step(state, input, output) {
    switch (input.op) {
      case 'get':
        if (output === undefined) return { ok: true, state };
        return { ok: 'value' in output && output.value === state, state };
      case 'put':
        if (output === undefined) return { ok: true, state: input.value };
        if (!('ok' in output)) return { ok: false, state };
        return { ok: true, state: output.ok ? input.value : state };
      case 'cas': {
        const succeeds = state === input.expected;
        const after = succeeds ? input.value : state;
        // Unknown outcome: whatever the store answered, it was this state's answer.
        if (output === undefined) return { ok: true, state: after };
        return { ok: 'ok' in output && output.ok === succeeds, state: after };
      }
    }
  },

  // JSON keeps the string "null" distinct from an absent key.
  key: (state) => JSON.stringify(state),

  partition(ops) {
    // Map iteration follows insertion order, so parts come in order of each key's first operation.
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
    for (const op of ops) {
      const part = byKey.get(op.input.key);
      if (part === undefined) byKey.set(op.input.key, [op]);
      else part.push(op);
    }
    return [...byKey.values()];
  },

  isReadOnly: (input) => input.op === 'get',

  describe(input, output) {
    const call =
      input.op === 'get'
        ? `get(${input.key})`
        : input.op === 'put'
          ? `put(${input.key}, ${show(input.value)})`
          : `cas(${input.key}, ${show(input.expected)} -> ${show(input.value)})`;
    if (output === undefined) return `${call} -> unknown (no response)`;
    if ('value' in output) return `${call} -> ${show(output.value)}`;
    return `${call} -> ${output.ok ? 'ok' : 'failed'}`;
  },

  describeState: (state) => (state === null ? 'absent (null)' : show(state)),
};
