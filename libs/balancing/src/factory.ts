import { RandomStrategy } from './random.js';
import { RoundRobinStrategy } from './round-robin.js';
import type { RandomSource, Strategy, StrategyName } from './strategy.js';
import { WeightedRoundRobinStrategy } from './weighted.js';

/** A fresh strategy instance; each service gets its own, since strategies keep per-pick state. */
export function createStrategy(name: StrategyName, deps: { random: RandomSource }): Strategy {
  switch (name) {
    case 'random':
      return new RandomStrategy(deps.random);
    case 'round-robin':
      return new RoundRobinStrategy();
    case 'weighted':
      return new WeightedRoundRobinStrategy();
  }
}
