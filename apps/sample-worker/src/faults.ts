import { setTimeout as sleep } from 'node:timers/promises';
import { SynodError } from '@synod/protocol';

/** A uniform random number in [0, 1). */
export type RandomSource = () => number;

/** mulberry32: a tiny seeded generator, so a fault pattern replays exactly from its seed. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultOptions {
  /** Added to every successful job, in milliseconds (the deadline still applies). */
  extraLatencyMs: number;
  /** Share of jobs failed on purpose, from 0 to 1. */
  failRate: number;
  random: RandomSource;
}

/**
 * Artificial degradation for tests and benchmarks of the gateway: a share of jobs fails at once
 * with INTERNAL (a fast failure, as a broken dependency gives), and every other job waits
 * `extraLatencyMs` before its handler runs. With both at 0 nothing happens and no random number is
 * drawn.
 */
export class Faults {
  constructor(private readonly opts: FaultOptions) {}

  get active(): boolean {
    return this.opts.extraLatencyMs > 0 || this.opts.failRate > 0;
  }

  /** Throws for a job chosen to fail; otherwise waits the extra latency (or until `signal` aborts). */
  async apply(signal: AbortSignal): Promise<void> {
    if (this.opts.failRate > 0 && this.opts.random() < this.opts.failRate) {
      throw new SynodError('INTERNAL', `injected failure (WORKER_FAIL_RATE=${this.opts.failRate})`, { details: { injected: true } });
    }
    if (this.opts.extraLatencyMs > 0) await sleep(this.opts.extraLatencyMs, undefined, { signal });
  }
}
