/**
 * Time as the replica's driver sees it: a monotonic clock and timers. Production uses the process's
 * own (`systemClock`); the simulator gives a virtual one, so a run replays exactly.
 */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
  /** Calls `fn` once the work already queued (I/O callbacks, microtasks) has run: setImmediate. */
  soon(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
  soon: (fn) => setImmediate(fn),
};
