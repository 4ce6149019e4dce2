import { usableWeight, type Member, type RandomSource, type Strategy } from './strategy.js';

/** Uniform choice among the members, whatever their weight, except that weight 0 (drained) is never picked. */
export class RandomStrategy implements Strategy {
  readonly name = 'random' as const;

  constructor(private readonly random: RandomSource) {}

  pick<M extends Member>(members: readonly M[]): M | undefined {
    const eligible = members.some((m) => usableWeight(m) === 0) ? members.filter((m) => usableWeight(m) > 0) : members;
    if (eligible.length === 0) return undefined;
    const i = Math.min(Math.floor(this.random() * eligible.length), eligible.length - 1);
    return eligible[i];
  }
}
