import { ConsistentHashStrategy } from './consistent-hash.js';
import { LeastOutstandingStrategy } from './least-outstanding.js';
import { P2cEwmaStrategy } from './p2c-ewma.js';
import { DEFAULT_PEAK_EWMA, type PeakEwmaOptions } from './peak-ewma.js';
import { RandomStrategy } from './random.js';
import { RoundRobinStrategy } from './round-robin.js';
import type { RandomSource, Strategy, StrategyName } from './strategy.js';
import { WeightedRoundRobinStrategy } from './weighted.js';

/** A fresh strategy instance; each service gets its own, since strategies keep per-pick state. */
export function createStrategy(name: StrategyName, deps: { random: RandomSource; ewma?: PeakEwmaOptions }): Strategy {
  switch (name) {
    case 'random':
      return new RandomStrategy(deps.random);
    case 'round-robin':
      return new RoundRobinStrategy();
    case 'weighted':
      return new WeightedRoundRobinStrategy();
    case 'least-outstanding':
      return new LeastOutstandingStrategy();
    case 'p2c-ewma':
      return new P2cEwmaStrategy(deps.random, deps.ewma ?? DEFAULT_PEAK_EWMA);
    case 'consistent-hash':
      return new ConsistentHashStrategy();
  }
}
