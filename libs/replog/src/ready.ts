import type { NodeId, Role } from './engine.js';

/** What a Ready's `softState` reports: role, known leader, epoch. */
export interface SoftState {
  role: Role;
  leader: NodeId | undefined;
  epoch: number;
}

export function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.epoch === b.epoch;
}

/**
 * The bookkeeping between an engine's `ready()` and `advance()`: what the handed-out Ready covered
 * (`Out`, the engine's own record of it), and the rule that the driver calls nothing else in
 * between (the Ready describes the engine's state at that moment).
 */
export class ReadyGate<Out> {
  private out: Out | undefined;

  /** Throws while a Ready is out. */
  guard(): void {
    if (this.out !== undefined) throw new Error('the driver must call advance() before using the node again');
  }

  /** `ready()` hands out a Ready that covered `out`. */
  handOut(out: Out): void {
    this.out = out;
  }

  /** `advance()`: what the Ready covered; throws without a Ready out. */
  take(): Out {
    const out = this.out;
    if (out === undefined) throw new Error('advance() without ready()');
    this.out = undefined;
    return out;
  }
}

/**
 * Splits a Ready's messages into those the driver may send before persisting it and the rest (see
 * `Ready.sendBeforePersist`), keeping their order within each part.
 */
export function splitEarly<M>(messages: M[], early: (m: M) => boolean): { early: M[]; later: M[] } {
  const first: M[] = [];
  const later: M[] = [];
  for (const m of messages) (early(m) ? first : later).push(m);
  return { early: first, later };
}
