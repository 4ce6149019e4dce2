export type { Member, RandomSource, Strategy, StrategyName } from './strategy.js';
export { STRATEGY_NAMES } from './strategy.js';
export { RandomStrategy } from './random.js';
export { RoundRobinStrategy } from './round-robin.js';
export { WeightedRoundRobinStrategy } from './weighted.js';
export { createStrategy } from './factory.js';
