import { hash32, mix32 } from './hash.js';
import { usableWeight, type Member, type PickContext, type Strategy } from './strategy.js';

/**
 * Consistent hashing on a request key by weighted rendezvous hashing (highest random weight): every
 * member scores `-weight / ln(u)` with `u` a uniform hash of (key, member id), and the highest score
 * wins. A key stays on its member while membership is stable; when a member joins it takes only the
 * keys it now wins (about 1/N of them), and when one leaves only its keys move, each to its
 * second-best member, spread evenly. The same holds when the caller excludes members (an ejected
 * or already-tried worker): the key falls back to its next member in rendezvous order.
 *
 * Requests without a key go to the members in rotation. Weight 0 is never picked.
 */
export class ConsistentHashStrategy implements Strategy {
  readonly name = 'consistent-hash' as const;
  private readonly idHashes = new Map<string, number>();
  private cursor = -1;

  pick<M extends Member>(members: readonly M[], ctx: PickContext = {}): M | undefined {
    if (ctx.key === undefined) return this.rotate(members);
    const keyHash = hash32(ctx.key);
    let best: M | undefined;
    let bestScore = -Infinity;
    for (const m of members) {
      const w = usableWeight(m);
      if (w === 0) continue;
      const score = rendezvousScore(keyHash, this.idHash(m.id), w);
      // Ties (astronomically rare) go to the smaller id so every gateway agrees.
      if (score > bestScore || (score === bestScore && best !== undefined && m.id < best.id)) {
        best = m;
        bestScore = score;
      }
    }
    return best;
  }

  forget(id: string): void {
    this.idHashes.delete(id);
  }

  private idHash(id: string): number {
    let h = this.idHashes.get(id);
    if (h === undefined) this.idHashes.set(id, (h = hash32(id)));
    return h;
  }

  private rotate<M extends Member>(members: readonly M[]): M | undefined {
    const n = members.length;
    for (let k = 1; k <= n; k++) {
      const i = (((this.cursor + k) % n) + n) % n;
      if (usableWeight(members[i]!) > 0) {
        this.cursor = i;
        return members[i];
      }
    }
    return undefined;
  }
}

/** The weighted rendezvous score of a member for a key: larger wins. */
export function rendezvousScore(keyHash: number, idHash: number, weight: number): number {
  // u in (0, 1): never 0 (ln 0) nor 1 (division by 0).
  const u = (mix32(keyHash, idHash) + 0.5) / 4294967296;
  return -weight / Math.log(u);
}
