/** A member a strategy can pick: a worker instance, identified by `id`. */
export interface Member {
  readonly id: string;
  /** Relative share for weighted strategies; members with weight 0 are never picked by them. */
  readonly weight: number;
  /**
   * Requests sent to this member and not answered yet (by the caller's count). Read by the
   * load-aware strategies (`least-outstanding`, `p2c-ewma`); 0 when absent.
   */
  readonly inFlight?: number;
  /**
   * When the oldest of those requests was sent (the caller's clock, ms); absent when none is in
   * flight. Read by `p2c-ewma`: a member that stopped answering (frozen, partitioned) looks at least
   * as slow as that request's age before any answer or timeout could tell.
   */
  readonly inFlightSince?: number;
}

/** What a strategy may need besides the members: the time (for decaying estimates) and a request key. */
export interface PickContext {
  /** The caller's clock, in milliseconds; strategies never read a clock themselves. */
  readonly now?: number;
  /** The request's routing key (consistent hashing); absent when the request has none. */
  readonly key?: string;
}

/** The outcome of one request to a member, reported back to strategies that learn from latency. */
export interface Observation {
  /** When the answer (or failure) arrived, on the caller's clock (ms). */
  readonly now: number;
  /** How long the request took, in milliseconds. */
  readonly latencyMs: number;
  /** False for a failure the member is to blame for (timeout, overload, internal error). */
  readonly ok: boolean;
}

/**
 * Chooses one member per request. Strategies are pure apart from the state they keep between
 * picks (a cursor, current weights, latency estimates) and the randomness they are given; they
 * never read a clock: the caller passes the time in `ctx.now` and in observations.
 *
 * `members` is the live set at the time of the pick, in a stable order (the caller's). It may change
 * between picks (members join and leave); strategies adapt on the next pick.
 */
export interface Strategy {
  /** Its name in the strategy table (`STRATEGIES`). */
  readonly name: string;
  /** Returns the chosen member, or undefined when no member is eligible. */
  pick<M extends Member>(members: readonly M[], ctx?: PickContext): M | undefined;
  /** Learns from a finished request (latency-aware strategies); others ignore it. */
  observe?(id: string, observation: Observation): void;
  /** Forgets a member that left (frees its state). */
  forget?(id: string): void;
}

/** A source of uniform numbers in [0, 1), like Math.random; tests pass a seeded one. */
export type RandomSource = () => number;

/** A weight a weighted strategy may use: finite and positive, else 0 (never picked). */
export function usableWeight(m: Member): number {
  return m.weight > 0 && Number.isFinite(m.weight) ? m.weight : 0;
}
