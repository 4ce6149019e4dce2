import { DEFAULT_PEAK_EWMA, PeakEwma, type PeakEwmaOptions } from './peak-ewma.js';
import { usableWeight, type Member, type Observation, type PickContext, type RandomSource, type Strategy } from './strategy.js';

/**
 * Power of two choices over peak-EWMA cost (Finagle's and Linkerd's default): two distinct members
 * are drawn at random and the one with the lower `peakEwma × (inFlight + 1) / weight` wins, the
 * estimate being at least the age of the member's oldest request in flight (a member that stopped
 * answering grows costlier with every millisecond, not only once a request times out). Two
 * random choices avoid the herd that "always the least loaded" causes across many gateways, and
 * the latency estimate sends less traffic to a member that turned slow or fails fast (failures
 * count as the configured penalty). Weight 0 is never picked. `ctx.now` is the caller's clock.
 */
export class P2cEwmaStrategy implements Strategy {
  readonly name = 'p2c-ewma' as const;
  private readonly estimates = new Map<string, PeakEwma>();
  private lastNow = 0;

  constructor(
    private readonly random: RandomSource,
    private readonly opts: PeakEwmaOptions = DEFAULT_PEAK_EWMA,
  ) {}

  pick<M extends Member>(members: readonly M[], ctx: PickContext = {}): M | undefined {
    const now = ctx.now ?? this.lastNow;
    this.lastNow = now;
    let eligible: readonly M[] = members;
    if (members.some((m) => usableWeight(m) === 0)) eligible = members.filter((m) => usableWeight(m) > 0);
    const n = eligible.length;
    if (n === 0) return undefined;
    if (n === 1) return eligible[0];
    const i = Math.min(Math.floor(this.random() * n), n - 1);
    let j = Math.min(Math.floor(this.random() * (n - 1)), n - 2);
    if (j >= i) j++;
    const a = eligible[i]!;
    const b = eligible[j]!;
    return this.cost(b, now) < this.cost(a, now) ? b : a;
  }

  observe(id: string, o: Observation): void {
    this.estimateOf(id).observe(o.latencyMs, o.ok, o.now);
    this.lastNow = Math.max(this.lastNow, o.now);
  }

  forget(id: string): void {
    this.estimates.delete(id);
  }

  /** The current cost of a member (exposed for views and tests). */
  cost(m: Member, now: number): number {
    const oldestMs = m.inFlightSince === undefined ? 0 : Math.max(0, now - m.inFlightSince);
    return this.estimateOf(m.id).cost(now, m.inFlight ?? 0, oldestMs) / usableWeight(m);
  }

  /** The member's latency estimate in ms at `now`, or undefined before its first sample. */
  estimateMs(id: string, now: number): number | undefined {
    const e = this.estimates.get(id);
    return e === undefined ? undefined : e.value(now);
  }

  private estimateOf(id: string): PeakEwma {
    let e = this.estimates.get(id);
    if (!e) this.estimates.set(id, (e = new PeakEwma(this.opts)));
    return e;
  }
}
