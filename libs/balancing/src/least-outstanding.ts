import { usableWeight, type Member, type Strategy } from './strategy.js';

/**
 * Least outstanding requests: the member with the fewest requests in flight relative to its weight
 * (`(inFlight + 1) / weight`) wins. Ties rotate: the scan starts after the last member picked, so
 * equally loaded members (sequential requests, every `inFlight` 0) are served in strict rotation
 * rather than always the first. Weight 0 is never picked.
 */
export class LeastOutstandingStrategy implements Strategy {
  readonly name = 'least-outstanding' as const;
  private cursor = -1;

  pick<M extends Member>(members: readonly M[]): M | undefined {
    const n = members.length;
    if (n === 0) return undefined;
    let best: M | undefined;
    let bestIndex = -1;
    let bestScore = Infinity;
    for (let k = 1; k <= n; k++) {
      const i = (((this.cursor + k) % n) + n) % n;
      const m = members[i]!;
      const w = usableWeight(m);
      if (w === 0) continue;
      const score = ((m.inFlight ?? 0) + 1) / w;
      if (score < bestScore) {
        best = m;
        bestIndex = i;
        bestScore = score;
      }
    }
    if (best !== undefined) this.cursor = bestIndex;
    return best;
  }
}
