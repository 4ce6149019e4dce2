/**
 * A linearizability checker: the Wing–Gong search with Lowe's memoization ("Testing for
 * linearizability", 2017), run separately on each independent part of the history when the model can
 * partition it (Horn & Kroening, P-compositionality), in the spirit of Porcupine.
 *
 * The search walks a doubly linked list of call and return events sorted by time. At any point, the
 * operations that may be linearized next are exactly those whose call event comes before the first
 * remaining return event: an operation that has already returned must have taken effect already, so
 * nothing called after its return may go before it. Linearizing an operation removes ("lifts") both of its
 * events from the list; backtracking puts them back ("unlifts"), in O(1) each. Every (set of linearized
 * operations, model state) pair is explored at most once: reaching it again through a different order
 * leads to exactly the same future, which already failed.
 */
import { seededRandom } from '../prng.js';
import { describeOperation, type Model, type Operation } from './model.js';

export interface CheckOptions {
  /**
   * Budget: how many distinct search states (set of linearized operations, model state) may be explored
   * in total, over all partitions, before giving up with `budget-exceeded`. Counted, never timed, so a
   * result is the same on every machine. Default 1,000,000.
   */
  maxStates?: number;
}

export type CheckResult<Input, Output> =
  | { outcome: 'ok'; explored: number }
  | {
      outcome: 'violation';
      explored: number;
      /** Index of the failing part in `model.partition(history)` (0 when the model does not partition). */
      partition: number;
      /** The offending operations: `linearized` followed by `pending` (so `stuck` comes right after the prefix). */
      ops: Operation<Input, Output>[];
      /** The longest prefix of the part that could be linearized, in linearization order. */
      linearized: Operation<Input, Output>[];
      /**
       * The operation that could not be linearized after that prefix: of the operations still pending, the
       * one that returned first, so it had to take effect before anything called later, and nothing
       * (including itself) could take effect next without contradicting a recorded output.
       */
      stuck: Operation<Input, Output>;
      /** Every operation pending at that point (called before `stuck` returned), `stuck` first. */
      pending: Operation<Input, Output>[];
      /** Readable report listing the operations above with client, times, input and output. */
      message: string;
    }
  | {
      outcome: 'budget-exceeded';
      explored: number;
      /** The part being checked when the budget ran out; earlier parts were linearizable. */
      partition: number;
    };

const DEFAULT_MAX_STATES = 1_000_000;
/** How many prefix operations a report prints; the full prefix is in `linearized`. */
const REPORTED_PREFIX = 12;

/**
 * Checks whether `history` is linearizable with respect to `model`.
 *
 * Throws (rather than reporting a violation) when the history itself is malformed: duplicate ids, a
 * non-finite call time, a return before its call, or a partition that loses or duplicates operations.
 */
export function checkLinearizability<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult<Input, Output> {
  const maxStates = options.maxStates ?? DEFAULT_MAX_STATES;
  if (!(maxStates >= 0)) throw new RangeError(`maxStates must be >= 0, got ${maxStates}`);
  validate(history);

  // A read whose answer never came back constrains nothing: whatever it would have returned, some
  // instant in its (unbounded) window agrees. Dropping it shrinks the search.
  const relevant = history.filter((op) => !(op.output === undefined && model.isReadOnly?.(op.input) === true));
  const parts = model.partition ? model.partition(relevant) : [relevant];
  const partitioned = parts.reduce((n, part) => n + part.length, 0);
  if (partitioned !== relevant.length || new Set(parts.flat().map((op) => op.id)).size !== relevant.length) {
    throw new Error(`model.partition must place each of the ${relevant.length} operations in exactly one part (got ${partitioned})`);
  }

  let explored = 0;
  for (const [index, part] of parts.entries()) {
    const result = checkPart(model, part, maxStates - explored);
    explored += result.explored;
    if (result.kind === 'budget-exceeded') return { outcome: 'budget-exceeded', explored, partition: index };
    if (result.kind === 'violation') {
      const { linearized, pending, state } = result;
      const stuck = pending[0]!;
      return {
        outcome: 'violation',
        explored,
        partition: index,
        ops: [...linearized, ...pending],
        linearized,
        stuck,
        pending,
        message: report(model, index, parts.length, part.length, linearized, pending, model.describeState?.(state) ?? model.key(state)),
      };
    }
  }
  return { outcome: 'ok', explored };
}

function validate<Input, Output>(history: readonly Operation<Input, Output>[]): void {
  const ids = new Set<number>();
  for (const op of history) {
    if (ids.has(op.id)) throw new Error(`duplicate operation id ${op.id}`);
    ids.add(op.id);
    if (!Number.isFinite(op.call)) throw new RangeError(`operation ${op.id}: call time must be finite, got ${op.call}`);
    if (!(op.return >= op.call)) throw new RangeError(`operation ${op.id}: return ${op.return} is before call ${op.call}`);
  }
}

function report<State, Input, Output>(
  model: Model<State, Input, Output>,
  partition: number,
  partitions: number,
  size: number,
  linearized: readonly Operation<Input, Output>[],
  pending: readonly Operation<Input, Output>[],
  state: string,
): string {
  const line = (op: Operation<Input, Output>): string => `    ${describeOperation(model, op)}`;
  const shown = linearized.slice(-REPORTED_PREFIX);
  const lines = [
    `not linearizable: partition ${partition} (of ${partitions}, ${size} operations) — ${linearized.length} operations linearize, then no pending operation can take effect`,
    linearized.length === 0
      ? '  linearizable prefix: none (fails from the initial state)'
      : `  linearizable prefix, in linearization order${shown.length < linearized.length ? ` (last ${shown.length} of ${linearized.length})` : ''}:`,
    ...shown.map(line),
    `  state after the prefix: ${state}`,
    '  stuck: this operation returned first among the pending ones, so it had to take effect next, but cannot:',
    line(pending[0]!),
  ];
  if (pending.length > 1) lines.push('  also pending (called before it returned), none of which can take effect first either:', ...pending.slice(1).map(line));
  return lines.join('\n');
}

type PartResult<State, Input, Output> =
  | { kind: 'ok'; explored: number }
  | { kind: 'budget-exceeded'; explored: number }
  | { kind: 'violation'; explored: number; linearized: Operation<Input, Output>[]; pending: Operation<Input, Output>[]; state: State };

/**
 * The set of explored (linearized set, state) pairs, as an open-addressing hash table over flat typed
 * arrays: this is the hot path of the search, and a `Map` keyed by strings spends most of its time
 * building keys and collecting garbage.
 *
 * The linearized set is a bitset whose 64-bit hash is maintained incrementally by the caller (Zobrist
 * hashing: XOR of one random value per operation, so adding or removing an operation is O(1)). States are
 * interned to small integers through their `model.key`. Equal hashes are confirmed by comparing the stored
 * bitsets, so a hash collision can cost time but never prune a state that was not explored.
 */
class Visited {
  private readonly words: number;
  /** Per slot: entry index + 1, 0 for empty. Capacity is a power of two, kept at most half full. */
  private slots = new Int32Array(1024);
  private entryHi = new Int32Array(512);
  private entryLo = new Int32Array(512);
  private entryState = new Int32Array(512);
  /** Bitsets of all entries, back to back, `words` each. */
  private pool: Uint32Array;
  private count = 0;

  constructor(words: number) {
    this.words = words;
    this.pool = new Uint32Array(512 * words);
  }

  /** Records the pair; false if it was already there. */
  add(hashHi: number, hashLo: number, stateId: number, bits: Uint32Array): boolean {
    const mask = this.slots.length - 1;
    let slot = this.slotOf(hashHi, stateId, mask);
    for (let entry = this.slots[slot]!; entry !== 0; entry = this.slots[slot]!) {
      const e = entry - 1;
      if (this.entryHi[e] === hashHi && this.entryLo[e] === hashLo && this.entryState[e] === stateId && this.sameBits(e, bits)) return false;
      slot = (slot + 1) & mask;
    }
    if (this.count === this.entryHi.length) this.growEntries();
    const e = this.count++;
    this.entryHi[e] = hashHi;
    this.entryLo[e] = hashLo;
    this.entryState[e] = stateId;
    this.pool.set(bits, e * this.words);
    this.slots[slot] = e + 1;
    if (this.count * 2 > this.slots.length) this.rehash();
    return true;
  }

  private slotOf(hashHi: number, stateId: number, mask: number): number {
    return (hashHi ^ Math.imul(stateId + 1, 0x9e3779b1)) & mask;
  }

  private sameBits(entry: number, bits: Uint32Array): boolean {
    const base = entry * this.words;
    for (let w = 0; w < this.words; w++) if (this.pool[base + w] !== bits[w]) return false;
    return true;
  }

  private growEntries(): void {
    const grow = <T extends Int32Array | Uint32Array>(old: T, make: (length: number) => T): T => {
      const bigger = make(old.length * 2);
      bigger.set(old);
      return bigger;
    };
    this.entryHi = grow(this.entryHi, (l) => new Int32Array(l));
    this.entryLo = grow(this.entryLo, (l) => new Int32Array(l));
    this.entryState = grow(this.entryState, (l) => new Int32Array(l));
    this.pool = grow(this.pool, (l) => new Uint32Array(l));
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.count; e++) {
      let slot = this.slotOf(this.entryHi[e]!, this.entryState[e]!, mask);
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = e + 1;
    }
    this.slots = slots;
  }
}

/** Fixed seed: the hash values only need to be well spread, and a fixed seed keeps runs reproducible. */
const ZOBRIST_SEED = 0x11ea7;

function checkPart<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly Operation<Input, Output>[],
  budget: number,
): PartResult<State, Input, Output> {
  const n = ops.length;
  if (n === 0) return { kind: 'ok', explored: 0 };

  // Events: node 0 is the head sentinel, nodes 1..2n are call/return events in time order, node 2n+1 is
  // the tail sentinel. At equal times calls sort before returns, which makes the two operations overlap
  // (A precedes B only if A.return < B.call). Unknown outcomes return at Infinity, after every real event:
  // such an operation can always be linearized last, which is how "it never took effect" is expressed.
  const events: { time: number; isCall: boolean; op: number }[] = [];
  ops.forEach((op, i) => {
    events.push({ time: op.call, isCall: true, op: i });
    events.push({ time: op.output === undefined ? Infinity : op.return, isCall: false, op: i });
  });
  events.sort((a, b) => (a.time !== b.time ? (a.time < b.time ? -1 : 1) : a.isCall !== b.isCall ? (a.isCall ? -1 : 1) : a.op - b.op));

  const head = 0;
  const tail = 2 * n + 1;
  const next = new Int32Array(2 * n + 2);
  const prev = new Int32Array(2 * n + 2);
  const opOf = new Int32Array(2 * n + 2);
  const isCall = new Uint8Array(2 * n + 2);
  /** For a call node, its return node. */
  const returnOf = new Int32Array(2 * n + 2);
  const callNode = new Int32Array(n);
  for (let node = 0; node <= tail; node++) {
    next[node] = node + 1;
    prev[node] = node - 1;
  }
  events.forEach((ev, i) => {
    const node = i + 1;
    opOf[node] = ev.op;
    if (ev.isCall) {
      isCall[node] = 1;
      callNode[ev.op] = node;
    } else {
      returnOf[callNode[ev.op]!] = node;
    }
  });

  const unlink = (node: number): void => {
    next[prev[node]!] = next[node]!;
    prev[next[node]!] = prev[node]!;
  };
  const relink = (node: number): void => {
    next[prev[node]!] = node;
    prev[next[node]!] = node;
  };
  // Dancing links: remove call then return; restore in the reverse order so every pointer is valid again.
  const lift = (call: number): void => {
    unlink(call);
    unlink(returnOf[call]!);
  };
  const unlift = (call: number): void => {
    relink(returnOf[call]!);
    relink(call);
  };

  const rand = seededRandom(ZOBRIST_SEED);
  const zHi = Int32Array.from({ length: n }, () => Math.floor(rand() * 0x1_0000_0000) | 0);
  const zLo = Int32Array.from({ length: n }, () => Math.floor(rand() * 0x1_0000_0000) | 0);
  const bits = new Uint32Array(Math.ceil(n / 32));
  let hashHi = 0;
  let hashLo = 0;
  const toggle = (op: number): void => {
    bits[op >>> 5]! ^= 1 << (op & 31);
    hashHi ^= zHi[op]!;
    hashLo ^= zLo[op]!;
  };

  const visited = new Visited(bits.length);
  const stateIds = new Map<string, number>();
  const internState = (s: State): number => {
    const key = model.key(s);
    let id = stateIds.get(key);
    if (id === undefined) stateIds.set(key, (id = stateIds.size));
    return id;
  };
  let explored = 0;
  // The backtracking stack: the call node linearized at each depth and the state before it.
  const stackNodes: number[] = [];
  const stackStates: State[] = [];
  let state = model.init();
  // The deepest dead end seen so far, kept for the report.
  let best: { linearized: number[]; pending: number[]; state: State } | undefined;

  let node = next[head]!;
  while (next[head] !== tail) {
    if (node === tail) throw new Error('linearizability search ran off the event list (bug)');
    if (isCall[node] === 1) {
      const i = opOf[node]!;
      const op = ops[i]!;
      const result = model.step(state, op.input, op.output);
      if (result.ok) {
        toggle(i);
        if (visited.add(hashHi, hashLo, internState(result.state), bits)) {
          if (explored >= budget) return { kind: 'budget-exceeded', explored };
          explored++;
          stackNodes.push(node);
          stackStates.push(state);
          state = result.state;
          lift(node);
          node = next[head]!;
          continue;
        }
        toggle(i);
      }
      node = next[node]!;
    } else {
      // The first remaining return: its operation had to be linearized by now and was not, with every
      // candidate before it tried. Dead end; undo the most recent choice and try the next candidate.
      if (best === undefined || stackNodes.length > best.linearized.length) {
        const pending = [opOf[node]!];
        for (let p = next[head]!; p !== node; p = next[p]!) if (isCall[p] === 1 && opOf[p] !== opOf[node]) pending.push(opOf[p]!);
        best = { linearized: stackNodes.map((c) => opOf[c]!), pending, state };
      }
      const call = stackNodes.pop();
      if (call === undefined) {
        return {
          kind: 'violation',
          explored,
          linearized: best.linearized.map((i) => ops[i]!),
          pending: best.pending.map((i) => ops[i]!),
          state: best.state,
        };
      }
      state = stackStates.pop()!;
      toggle(opOf[call]!);
      unlift(call);
      node = next[call]!;
    }
  }
  return { kind: 'ok', explored };
}
