/**
 * Linearizability checking for recorded client histories (see README "Linearizability checker").
 *
 * Conventions, in short: operation A precedes B iff `A.return < B.call` (equal times overlap); an
 * operation whose client gave up has `output: undefined` and `return: Infinity`, may take effect at any
 * point after its call or never (the search can always place it last); reads with unknown outcomes are
 * dropped; the search budget is a count of explored states, never time.
 */
export { checkLinearizability } from './checker.js';
export type { CheckOptions, CheckResult } from './checker.js';
export { describeOperation } from './model.js';
export type { Model, Operation, StepResult } from './model.js';
export { kvModel } from './kv-model.js';
export type { KvInput, KvOutput, KvState } from './kv-model.js';
