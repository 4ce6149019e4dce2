import type { Member, PickContext, RandomSource, Strategy } from './strategy.js';

/** Slow start (Envoy's): a new member's share ramps up over `windowMs` instead of jumping to full. */
export interface SlowStartOptions {
  /** Length of the ramp, in ms; 0 turns slow start off. */
  windowMs: number;
  /** Curve of the ramp: 1 linear, larger ramps faster at first (`(t/window)^(1/aggression)`). */
  aggression: number;
  /** The share a member starts at, in percent of its full share. */
  minPercent: number;
  /**
   * Steps of the ramp for weighted round-robin: the weight changes at most this many times during
   * the window, since every weight change restarts the exact cycle.
   */
  steps: number;
}

export const DEFAULT_SLOW_START: SlowStartOptions = { windowMs: 0, aggression: 1, minPercent: 10, steps: 10 };

/**
 * Applies slow start to any strategy's pick. A member that joined `t` ms ago (t < window) has the
 * factor `max(minPercent/100, (t/window)^(1/aggression))`:
 * - `weighted` sees its weight multiplied by the factor, rounded up to one of `steps` levels, so
 *   smooth weighted round-robin keeps exact shares between steps;
 * - every other strategy picks as usual, and a pick of a ramping member stands with probability
 *   `factor`; otherwise the pick is redone without it (when another member is left).
 * Members past their window, or with no join time, are untouched; with the window 0 this is the
 * strategy alone.
 */
export class SlowStart {
  constructor(
    private readonly opts: SlowStartOptions,
    private readonly random: RandomSource,
  ) {}

  get enabled(): boolean {
    return this.opts.windowMs > 0;
  }

  /** The share factor in (0, 1] of a member that joined at `joinedAt`, at `now`. */
  factor(joinedAt: number | undefined, now: number): number {
    if (!this.enabled || joinedAt === undefined) return 1;
    const t = now - joinedAt;
    if (t >= this.opts.windowMs) return 1;
    const ramp = Math.pow(Math.max(0, t) / this.opts.windowMs, 1 / Math.max(this.opts.aggression, 1e-6));
    return Math.min(1, Math.max(this.opts.minPercent / 100, ramp));
  }

  /** The factor rounded up to the ramp's steps (used for weights). */
  steppedFactor(joinedAt: number | undefined, now: number): number {
    const f = this.factor(joinedAt, now);
    if (f >= 1) return 1;
    const steps = Math.max(1, Math.floor(this.opts.steps));
    return Math.ceil(f * steps) / steps;
  }

  pick<M extends Member>(
    strategy: Strategy,
    members: readonly M[],
    ctx: PickContext & { now: number },
    joinedAt: (m: M) => number | undefined,
  ): M | undefined {
    if (!this.enabled) return strategy.pick(members, ctx);
    if (strategy.name === 'weighted') return this.pickWeighted(strategy, members, ctx, joinedAt);
    let candidates = members;
    for (;;) {
      const chosen = strategy.pick(candidates, ctx);
      if (chosen === undefined || candidates.length <= 1) return chosen;
      const f = this.factor(joinedAt(chosen), ctx.now);
      if (f >= 1 || this.random() < f) return chosen;
      candidates = candidates.filter((m) => m.id !== chosen.id);
    }
  }

  private pickWeighted<M extends Member>(
    strategy: Strategy,
    members: readonly M[],
    ctx: PickContext & { now: number },
    joinedAt: (m: M) => number | undefined,
  ): M | undefined {
    let scaled: Member[] | undefined;
    members.forEach((m, i) => {
      const f = this.steppedFactor(joinedAt(m), ctx.now);
      if (f >= 1) return;
      scaled ??= members.slice();
      scaled[i] = { id: m.id, weight: m.weight * f, inFlight: m.inFlight ?? 0 };
    });
    if (scaled === undefined) return strategy.pick(members, ctx);
    const chosen = strategy.pick(scaled, ctx);
    return chosen === undefined ? undefined : members.find((m) => m.id === chosen.id);
  }
}
