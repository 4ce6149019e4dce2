import type { Member, RandomSource, Strategy } from './strategy.js';

/** Uniform choice among all members, whatever their weight. */
export class RandomStrategy implements Strategy {
  readonly name = 'random' as const;

  constructor(private readonly random: RandomSource) {}

  pick<M extends Member>(members: readonly M[]): M | undefined {
    if (members.length === 0) return undefined;
    const i = Math.min(Math.floor(this.random() * members.length), members.length - 1);
    return members[i];
  }
}
