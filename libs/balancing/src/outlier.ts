/** Settings of passive outlier detection (Envoy's outlier detection, simplified). */
export interface OutlierOptions {
  /** Consecutive failed requests that eject a member; 0 turns this check off. */
  consecutiveFailures: number;
  /** Consecutive missed active health checks (pings) that eject a member; 0 turns this check off. */
  consecutivePingFailures: number;
  /** A success rate (percent) below this over a window ejects the member; 0 turns this check off. */
  successRatePercent: number;
  /** Requests a window must hold before its success rate counts. */
  successRateMinRequests: number;
  /** Length of the success-rate window, in ms (tumbling). */
  successRateWindowMs: number;
  /** First ejection length, in ms; the n-th ejection lasts n times this (capped by `maxEjectionMs`). */
  baseEjectionMs: number;
  maxEjectionMs: number;
  /**
   * At most this share (percent) of a service's members are ejected at once. When more than that
   * are ejected anyway (members left since), every member takes traffic again (panic mode).
   */
  maxEjectionPercent: number;
}

export const DEFAULT_OUTLIER: OutlierOptions = {
  consecutiveFailures: 5,
  consecutivePingFailures: 3,
  successRatePercent: 0,
  successRateMinRequests: 20,
  successRateWindowMs: 10_000,
  baseEjectionMs: 5_000,
  maxEjectionMs: 60_000,
  maxEjectionPercent: 50,
};

interface MemberHealth {
  consecutiveFailures: number;
  consecutivePingFailures: number;
  windowStart: number;
  windowTotal: number;
  windowFailures: number;
  /** Times ejected (drives the ejection length); decays while the member stays healthy. */
  ejections: number;
  ejectedUntil: number | undefined;
  /** When the member last returned from an ejection (or was first seen). */
  healthySince: number;
}

export type EjectionReason = 'consecutive-failures' | 'success-rate' | 'active-check';

export interface Ejection {
  id: string;
  reason: EjectionReason;
  until: number;
  /** How many times this member was ejected, this one included. */
  count: number;
}

/**
 * Passive outlier detection for the members of one service, fed with every request's outcome and
 * every active check, on the caller's clock. A member is ejected after `consecutiveFailures`
 * failed requests in a row, `consecutivePingFailures` missed pings in a row, or a success rate
 * under `successRatePercent` over a window of at least `successRateMinRequests` requests. An
 * ejection lasts `baseEjectionMs × n` for the n-th ejection (capped), and n decays by one for every
 * `maxEjectionMs` the member then stays healthy. No ejection happens when it would put more than
 * `maxEjectionPercent` of the service's members out.
 */
export class OutlierDetector {
  private readonly health = new Map<string, MemberHealth>();

  constructor(private readonly opts: OutlierOptions = DEFAULT_OUTLIER) {}

  /**
   * Records one request's outcome. `total` is the number of live members of the service (for the
   * ejection cap). Returns the ejection it caused, if any.
   */
  record(id: string, ok: boolean, now: number, total: number): Ejection | undefined {
    const h = this.stateOf(id, now);
    this.rollWindow(h, now);
    h.windowTotal++;
    if (ok) {
      h.consecutiveFailures = 0;
      this.decay(h, now);
      return undefined;
    }
    h.windowFailures++;
    h.consecutiveFailures++;
    if (this.isEjected(id, now)) return undefined;
    const { consecutiveFailures, successRatePercent, successRateMinRequests } = this.opts;
    if (consecutiveFailures > 0 && h.consecutiveFailures >= consecutiveFailures) return this.eject(id, h, 'consecutive-failures', now, total);
    if (successRatePercent > 0 && h.windowTotal >= successRateMinRequests) {
      const rate = (100 * (h.windowTotal - h.windowFailures)) / h.windowTotal;
      if (rate < successRatePercent) return this.eject(id, h, 'success-rate', now, total);
    }
    return undefined;
  }

  /** Records one active check (ping): answered or missed. Returns the ejection it caused, if any. */
  recordPing(id: string, ok: boolean, now: number, total: number): Ejection | undefined {
    const h = this.stateOf(id, now);
    if (ok) {
      h.consecutivePingFailures = 0;
      return undefined;
    }
    h.consecutivePingFailures++;
    const limit = this.opts.consecutivePingFailures;
    if (limit > 0 && h.consecutivePingFailures >= limit && !this.isEjected(id, now)) return this.eject(id, h, 'active-check', now, total);
    return undefined;
  }

  isEjected(id: string, now: number): boolean {
    const until = this.health.get(id)?.ejectedUntil;
    return until !== undefined && now < until;
  }

  /** When the member's current ejection ends, or undefined when it is not ejected. */
  ejectedUntil(id: string, now: number): number | undefined {
    return this.isEjected(id, now) ? this.health.get(id)!.ejectedUntil : undefined;
  }

  /**
   * The members that take traffic: those not ejected, ejections that ended being cleared (returned
   * through `returned`). When every member is ejected, or more than the cap are (members left since
   * they were ejected), all members are returned: better a degraded worker than none.
   */
  eligible<M extends { readonly id: string }>(members: readonly M[], now: number, returned?: (id: string) => void): readonly M[] {
    let ejected = 0;
    for (const m of members) {
      const h = this.health.get(m.id);
      if (h?.ejectedUntil === undefined) continue;
      if (now >= h.ejectedUntil) {
        this.release(h, now);
        returned?.(m.id);
      } else {
        ejected++;
      }
    }
    if (ejected === 0) return members;
    if (ejected >= members.length || ejected > this.cap(members.length)) return members;
    return members.filter((m) => !this.isEjected(m.id, now));
  }

  /** Times the member was ejected (decaying while it stays healthy). */
  ejections(id: string): number {
    return this.health.get(id)?.ejections ?? 0;
  }

  /** Members currently ejected among `ids`. */
  ejectedCount(ids: Iterable<string>, now: number): number {
    let n = 0;
    for (const id of ids) if (this.isEjected(id, now)) n++;
    return n;
  }

  forget(id: string): void {
    this.health.delete(id);
  }

  private cap(total: number): number {
    return Math.floor((total * this.opts.maxEjectionPercent) / 100);
  }

  private eject(id: string, h: MemberHealth, reason: EjectionReason, now: number, total: number): Ejection | undefined {
    let ejectedNow = 0;
    for (const [other, oh] of this.health) if (other !== id && oh.ejectedUntil !== undefined && now < oh.ejectedUntil) ejectedNow++;
    if (ejectedNow + 1 > this.cap(total) || ejectedNow + 1 >= total) return undefined;
    h.ejections++;
    h.ejectedUntil = now + Math.min(this.opts.baseEjectionMs * h.ejections, this.opts.maxEjectionMs);
    return { id, reason, until: h.ejectedUntil, count: h.ejections };
  }

  private release(h: MemberHealth, now: number): void {
    h.ejectedUntil = undefined;
    h.consecutiveFailures = 0;
    h.consecutivePingFailures = 0;
    h.windowStart = now;
    h.windowTotal = 0;
    h.windowFailures = 0;
    h.healthySince = now;
  }

  private decay(h: MemberHealth, now: number): void {
    if (h.ejections > 0 && h.ejectedUntil === undefined && now - h.healthySince >= this.opts.maxEjectionMs) {
      h.ejections--;
      h.healthySince = now;
    }
  }

  private rollWindow(h: MemberHealth, now: number): void {
    if (now - h.windowStart >= this.opts.successRateWindowMs) {
      h.windowStart = now;
      h.windowTotal = 0;
      h.windowFailures = 0;
    }
  }

  private stateOf(id: string, now: number): MemberHealth {
    let h = this.health.get(id);
    if (!h) {
      h = {
        consecutiveFailures: 0,
        consecutivePingFailures: 0,
        windowStart: now,
        windowTotal: 0,
        windowFailures: 0,
        ejections: 0,
        ejectedUntil: undefined,
        healthySince: now,
      };
      this.health.set(id, h);
    }
    return h;
  }
}
