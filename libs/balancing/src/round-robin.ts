import { usableWeight, type Member, type Strategy } from './strategy.js';

/**
 * Strict rotation: while membership is stable, every window of N consecutive picks holds each of
 * the N members exactly once. When membership changes the rotation continues from the member after
 * the last one picked (by position in the new list), so nobody is skipped twice in a row.
 */
export class RoundRobinStrategy implements Strategy {
  readonly name = 'round-robin' as const;
  private lastId: string | undefined;
  private lastIndex = -1;

  pick<M extends Member>(all: readonly M[]): M | undefined {
    const members = all.some((m) => usableWeight(m) === 0) ? all.filter((m) => usableWeight(m) > 0) : all;
    const n = members.length;
    if (n === 0) return undefined;
    // Fast path: the last pick is still where we left it.
    let from = this.lastIndex;
    if (this.lastId !== undefined && members[from]?.id !== this.lastId) {
      from = members.findIndex((m) => m.id === this.lastId);
      // The last member left: continue from the position it held.
      if (from === -1) from = this.lastIndex - 1;
    }
    const index = (((from + 1) % n) + n) % n;
    const chosen = members[index]!;
    this.lastIndex = index;
    this.lastId = chosen.id;
    return chosen;
  }
}
