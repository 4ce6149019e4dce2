/** A member a strategy can pick: a worker instance, identified by `id`. */
export interface Member {
  readonly id: string;
  /** Relative share for weighted strategies; members with weight 0 are never picked by them. */
  readonly weight: number;
}

/**
 * Chooses one member per request. Strategies are pure apart from the state they keep between
 * picks (a cursor, current weights) and the randomness they are given; they never read a clock.
 *
 * `members` is the live set at the time of the pick, in a stable order (the caller's). It may change
 * between picks (members join and leave); strategies adapt on the next pick.
 */
export interface Strategy {
  readonly name: StrategyName;
  /** Returns the chosen member, or undefined when no member is eligible. */
  pick<M extends Member>(members: readonly M[]): M | undefined;
}

export type StrategyName = 'random' | 'round-robin' | 'weighted';
export const STRATEGY_NAMES: readonly StrategyName[] = ['random', 'round-robin', 'weighted'];

/** A source of uniform numbers in [0, 1), like Math.random; tests pass a seeded one. */
export type RandomSource = () => number;
