import { usableWeight, type Member, type Strategy } from './strategy.js';

/**
 * Smooth weighted round-robin, the algorithm nginx uses: on each pick every member's current
 * weight grows by its weight, the largest current weight wins (ties to the first in list order) and
 * the winner's current weight drops by the total. Weights 5,1,1 give `a a b a c a a` in every cycle
 * of sum(weights) picks while membership is stable: exact shares per cycle, the heavy member's
 * picks spread out.
 *
 * Members with weight 0 are never picked. When the eligible set or a weight changes, every current
 * weight restarts at 0 (as nginx does on reload), so exact shares hold from the first full cycle
 * after the change instead of carrying residue from a membership that no longer exists.
 */
export class WeightedRoundRobinStrategy implements Strategy {
  readonly name = 'weighted' as const;
  private state = new Map<string, { weight: number; current: number }>();

  pick<M extends Member>(members: readonly M[]): M | undefined {
    if (this.membershipChanged(members)) this.reset(members);
    let total = 0;
    let best: M | undefined;
    let bestState: { weight: number; current: number } | undefined;
    for (const m of members) {
      const s = this.state.get(m.id);
      if (s === undefined) continue;
      s.current += s.weight;
      total += s.weight;
      if (bestState === undefined || s.current > bestState.current) {
        best = m;
        bestState = s;
      }
    }
    if (bestState !== undefined) bestState.current -= total;
    return best;
  }

  private membershipChanged(members: readonly Member[]): boolean {
    let eligible = 0;
    for (const m of members) {
      const w = usableWeight(m);
      if (w === 0) continue;
      eligible++;
      if (this.state.get(m.id)?.weight !== w) return true;
    }
    return eligible !== this.state.size;
  }

  private reset(members: readonly Member[]): void {
    this.state.clear();
    for (const m of members) {
      const weight = usableWeight(m);
      if (weight > 0) this.state.set(m.id, { weight, current: 0 });
    }
  }
}
