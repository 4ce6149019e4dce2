/**
 * Types shared by the linearizability checker and its models.
 *
 * A history is a list of operations, each with the logical time its client invoked it (`call`) and the
 * time the client saw the response (`return`). The checker decides whether every operation can be
 * given one instant inside its [call, return] window such that applying the operations one by one, in
 * instant order, to a sequential `Model` produces exactly the recorded outputs.
 */

/**
 * One client operation.
 *
 * Timing convention: operation A precedes operation B in real time iff `A.return < B.call` (strictly).
 * Equal times mean the two overlap, so either order is allowed. This is the permissive reading: a
 * recorder whose clock ticks coarsely can stamp "B started" with the same number as "A finished" even
 * when B really started later, and treating that as overlap can only hide a violation, never invent one.
 *
 * Unknown outcome: a client that gave up waiting (timeout, lost connection) records `output: undefined`
 * and `return: Infinity`, because the request may still be applied at any later moment, or never. The
 * checker treats `output === undefined` as unknown even when `return` is finite (the effect can still land
 * after the client stopped waiting, so the recorded return time cannot bound it).
 */
export interface Operation<Input, Output> {
  /** Unique within the history; used in reports. */
  id: number;
  /** Which client issued it; used in reports only (the checker relies on times, not on client order). */
  clientId: number;
  input: Input;
  /** `undefined` when the outcome is unknown (see above). */
  output: Output | undefined;
  /** Logical time of the invocation. */
  call: number;
  /** Logical time of the response; `Infinity` when the outcome is unknown. */
  return: number;
}

export interface StepResult<State> {
  /** False when `output` cannot be produced by applying `input` to the given state. */
  ok: boolean;
  /** The state after the operation (ignored when `ok` is false). */
  state: State;
}

/**
 * A sequential specification of the object under test.
 *
 * States must be treated as immutable values: `step` returns a new state and never mutates the old one,
 * because the search keeps earlier states on its backtracking stack.
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. Called once per partition. */
  init(): State;
  /**
   * Applies `input` to `state` and says whether `output` is a possible response. Must be pure and
   * deterministic. An `undefined` output is an unknown outcome and must match any response: apply the
   * effect the operation would have had from this state and return `ok: true`. (That the operation might
   * never have taken effect is covered by the checker, which can always place it last.)
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>;
  /**
   * A string that is equal for two states iff they are equal. The search memoizes the pairs
   * (set of linearized operations, state key) it has already explored, so a wrong key either hides
   * violations (two different states sharing a key) or wastes time (one state with two keys).
   */
  key(state: State): string;
  /**
   * Splits a history into independent sub-histories that can be checked one by one (P-compositionality:
   * for a map, the whole history is linearizable iff the history of every key is). Each operation must
   * land in exactly one part. Without it the history is checked as one part.
   */
  partition?(ops: readonly Operation<Input, Output>[]): Operation<Input, Output>[][];
  /**
   * True when the operation never changes the state (a read). Reads with an unknown outcome are dropped
   * before checking: they constrain nothing and would only enlarge the search.
   */
  isReadOnly?(input: Input): boolean;
  /** A short readable form such as `put(a, "1") -> ok`; `output` is `undefined` for unknown outcomes. */
  describe(input: Input, output: Output | undefined): string;
  /** A short readable form of a state for reports; defaults to `key(state)`. */
  describeState?(state: State): string;
}

function formatTime(t: number): string {
  return Number.isFinite(t) ? String(t) : 'unknown';
}

/** One line such as `op 7, client 2, t=[3, 9]: put(a, "x") -> ok`, used in violation reports. */
export function describeOperation<State, Input, Output>(model: Model<State, Input, Output>, op: Operation<Input, Output>): string {
  return `op ${op.id}, client ${op.clientId}, t=[${formatTime(op.call)}, ${formatTime(op.return)}]: ${model.describe(op.input, op.output)}`;
}
