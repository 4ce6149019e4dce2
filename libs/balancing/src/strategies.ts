import { ConsistentHashStrategy } from './consistent-hash.js';
import { LeastOutstandingStrategy } from './least-outstanding.js';
import { P2cEwmaStrategy } from './p2c-ewma.js';
import { DEFAULT_PEAK_EWMA, type PeakEwmaOptions } from './peak-ewma.js';
import { RandomStrategy } from './random.js';
import { RoundRobinStrategy } from './round-robin.js';
import type { RandomSource, Strategy } from './strategy.js';
import { WeightedRoundRobinStrategy } from './weighted.js';

/** What a strategy factory may use: the randomness it is given and the latency-estimate settings. */
export interface StrategyDeps {
  random: RandomSource;
  ewma: PeakEwmaOptions;
}

/**
 * Every strategy by name. A new strategy is its own file and one line here: the name becomes valid
 * in `LB_STRATEGY`, `LB_STRATEGY_OVERRIDES`, the admin route and the API documentation.
 */
export const STRATEGIES = {
  random: (d) => new RandomStrategy(d.random),
  'round-robin': () => new RoundRobinStrategy(),
  weighted: () => new WeightedRoundRobinStrategy(),
  'least-outstanding': () => new LeastOutstandingStrategy(),
  'p2c-ewma': (d) => new P2cEwmaStrategy(d.random, d.ewma),
  'consistent-hash': () => new ConsistentHashStrategy(),
} as const satisfies Record<string, (deps: StrategyDeps) => Strategy>;

export type StrategyName = keyof typeof STRATEGIES;
export const STRATEGY_NAMES = Object.keys(STRATEGIES) as [StrategyName, ...StrategyName[]];

export function isStrategyName(name: string): name is StrategyName {
  return Object.hasOwn(STRATEGIES, name);
}

/** A fresh strategy instance; each service gets its own, since strategies keep per-pick state. */
export function createStrategy(name: StrategyName, deps: { random: RandomSource; ewma?: PeakEwmaOptions }): Strategy {
  return STRATEGIES[name]({ random: deps.random, ewma: deps.ewma ?? DEFAULT_PEAK_EWMA });
}
