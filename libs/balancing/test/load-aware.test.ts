import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@synod/testkit';
import { LeastOutstandingStrategy, P2cEwmaStrategy, PeakEwma, UNMEASURED_PENALTY, type Member } from '../src/index.js';

interface Load extends Member {
  inFlight: number;
}
const loads = (inFlight: number[], weights?: number[]): Load[] => inFlight.map((n, i) => ({ id: `m${i}`, weight: weights?.[i] ?? 1, inFlight: n }));

describe('least outstanding requests', () => {
  it('picks the member with the fewest requests in flight', () => {
    const s = new LeastOutstandingStrategy();
    expect(s.pick(loads([3, 1, 2]))?.id).toBe('m1');
    expect(s.pick(loads([0, 4, 4]))?.id).toBe('m0');
  });

  it('rotates among ties, so idle members are served in strict rotation', () => {
    const s = new LeastOutstandingStrategy();
    const ms = loads([0, 0, 0]);
    expect(Array.from({ length: 6 }, () => s.pick(ms)!.id)).toEqual(['m0', 'm1', 'm2', 'm0', 'm1', 'm2']);
  });

  it('weighs in-flight against weight and never picks weight 0', () => {
    const s = new LeastOutstandingStrategy();
    // (3+1)/4 = 1 beats (1+1)/1 = 2.
    expect(s.pick(loads([3, 1], [4, 1]))?.id).toBe('m0');
    expect(s.pick(loads([9, 0], [1, 0]))?.id).toBe('m0');
    expect(s.pick(loads([0], [0]))).toBeUndefined();
    expect(s.pick([])).toBeUndefined();
  });

  it('always returns a member of minimal (inFlight+1)/weight (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 10 }), (spec) => {
        const s = new LeastOutstandingStrategy();
        const ms = loads(
          spec.map(([n]) => n),
          spec.map(([, w]) => w),
        );
        const got = s.pick(ms)!;
        const score = (m: Load) => (m.inFlight + 1) / m.weight;
        expect(score(got)).toBe(Math.min(...ms.map(score)));
      }),
    );
  });
});

describe('peak EWMA', () => {
  const opts = { decayMs: 1000, failurePenaltyMs: 200 };

  it('jumps to a higher sample at once and blends lower ones in with time', () => {
    const e = new PeakEwma(opts);
    e.observe(10, true, 0);
    expect(e.value(0)).toBe(10);
    e.observe(50, true, 0);
    expect(e.value(0)).toBe(50);
    // A low sample right away barely moves it; one a decay time later moves it by 1 - 1/e.
    e.observe(10, true, 1000);
    expect(e.value(1000)).toBeCloseTo(50 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 6);
  });

  it('decays towards 0 while unread, so a member benched for slowness is tried again', () => {
    const e = new PeakEwma(opts);
    e.observe(100, true, 0);
    expect(e.value(1000)).toBeCloseTo(100 * Math.exp(-1), 6);
    expect(e.value(5000)).toBeCloseTo(100 * Math.exp(-5), 6);
  });

  it('counts a failure as at least the penalty, so failing fast does not look fast', () => {
    const e = new PeakEwma(opts);
    e.observe(1, false, 0);
    expect(e.value(0)).toBe(200);
    e.observe(500, false, 0);
    expect(e.value(0)).toBe(500);
  });

  it('costs estimate × (outstanding + 1), and a large penalty when unmeasured but busy', () => {
    const e = new PeakEwma(opts);
    expect(e.cost(0, 0)).toBe(0);
    expect(e.cost(0, 2)).toBe(UNMEASURED_PENALTY + 2);
    e.observe(4, true, 0);
    expect(e.cost(0, 2)).toBe(12);
  });

  it('takes the age of the oldest outstanding request as a lower bound of the estimate', () => {
    const e = new PeakEwma(opts);
    e.observe(4, true, 0);
    expect(e.cost(0, 2, 3)).toBe(12);
    expect(e.cost(0, 2, 250)).toBe(750);
  });

  it('ignores a clock that goes backwards', () => {
    const e = new PeakEwma(opts);
    e.observe(100, true, 1000);
    expect(e.value(500)).toBe(100);
  });
});

describe('p2c-ewma with a member that stopped answering', () => {
  it('stops picking it within a few of its requests: their age makes it costlier than the others', () => {
    const s = new P2cEwmaStrategy(seededRandom(7), { decayMs: 10_000, failurePenaltyMs: 500 });
    const members: { id: string; weight: number; inFlight: number; inFlightSince?: number }[] = [
      { id: 'a', weight: 1, inFlight: 0 },
      { id: 'b', weight: 1, inFlight: 0 },
      { id: 'frozen', weight: 1, inFlight: 0 },
    ];
    for (const m of members) s.observe(m.id, { now: 0, latencyMs: 5, ok: true });
    // From t=0 on, `frozen` never answers; a and b answer every request in 5 ms.
    const sentAt: number[] = [];
    for (let now = 0; now < 2000; now++) {
      const frozen = members[2]!;
      if (sentAt.length > 0) frozen.inFlightSince = sentAt[0]!;
      frozen.inFlight = sentAt.length;
      const m = s.pick(members, { now })!;
      if (m.id === 'frozen') sentAt.push(now);
      else s.observe(m.id, { now: now + 5, latencyMs: 5, ok: true });
    }
    expect(sentAt.length).toBeGreaterThan(0);
    expect(sentAt.length).toBeLessThanOrEqual(3);
    expect(Math.max(...sentAt)).toBeLessThan(50);
  });
});

/**
 * A discrete-event simulation on a virtual clock: `clients` closed-loop clients send requests
 * through the strategy to members whose service time is `serviceMs[i]` (plus a little seeded
 * jitter) and which fail when `fails[i]`. Returns picks per member.
 */
function simulate(opts: { serviceMs: number[]; fails?: boolean[]; clients: number; requests: number; seed: number }): number[] {
  const random = seededRandom(opts.seed);
  const s = new P2cEwmaStrategy(random, { decayMs: 10_000, failurePenaltyMs: 500 });
  const ms: Load[] = loads(opts.serviceMs.map(() => 0));
  const picks = opts.serviceMs.map(() => 0);
  // Pending completions: [time, member index, started].
  const pending: [number, number, number][] = [];
  let now = 0;
  let sent = 0;
  const send = (): void => {
    const m = s.pick(ms, { now })!;
    const i = ms.indexOf(m);
    picks[i]!++;
    m.inFlight++;
    const jitter = 0.9 + random() * 0.2;
    const took = (opts.fails?.[i] ? 0.1 : opts.serviceMs[i]!) * jitter;
    pending.push([now + took, i, now]);
    sent++;
  };
  for (let c = 0; c < opts.clients; c++) send();
  while (pending.length > 0) {
    pending.sort((a, b) => a[0] - b[0]);
    const [at, i, started] = pending.shift()!;
    now = at;
    ms[i]!.inFlight--;
    s.observe(ms[i]!.id, { now, latencyMs: now - started, ok: !opts.fails?.[i] });
    if (sent < opts.requests) send();
  }
  return picks;
}

describe('power of two choices over peak EWMA', () => {
  it('gives a member 50× slower far less than its round-robin share (injected clock, several seeds)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const requests = 20_000;
      const picks = simulate({ serviceMs: [2, 2, 2, 2, 100], clients: 16, requests, seed });
      const fair = requests / 5;
      expect(picks[4]!).toBeLessThan(fair / 4);
      expect(picks.reduce((a, b) => a + b, 0)).toBe(requests);
    }
  });

  it('gives a member that fails fast far less than its share (the failure penalty)', () => {
    const requests = 10_000;
    const picks = simulate({ serviceMs: [2, 2, 2, 2, 2], fails: [false, false, false, false, true], clients: 8, requests, seed: 7 });
    expect(picks[4]!).toBeLessThan(requests / 5 / 4);
  });

  it('spreads evenly over equal members', () => {
    const requests = 20_000;
    const picks = simulate({ serviceMs: [2, 2, 2, 2], clients: 8, requests, seed: 3 });
    for (const p of picks) expect(Math.abs(p - requests / 4)).toBeLessThan(requests / 4 / 5);
  });

  it('prefers the cheaper of the two it draws, and handles 0, 1 and weight-0 members', () => {
    const s = new P2cEwmaStrategy(seededRandom(1), { decayMs: 1000, failurePenaltyMs: 100 });
    s.observe('m0', { now: 0, latencyMs: 50, ok: true });
    s.observe('m1', { now: 0, latencyMs: 5, ok: true });
    const two = loads([0, 0]);
    for (let i = 0; i < 20; i++) expect(s.pick(two, { now: 0 })?.id).toBe('m1');
    // Outstanding requests count: 5 × 11 > 50 × 1.
    expect(s.pick(loads([0, 10]), { now: 0 })?.id).toBe('m0');
    expect(s.pick([], { now: 0 })).toBeUndefined();
    expect(s.pick(loads([3]), { now: 0 })?.id).toBe('m0');
    expect(s.pick(loads([0, 0], [0, 1]), { now: 0 })?.id).toBe('m1');
    expect(s.estimateMs('m0', 0)).toBe(50);
    s.forget('m0');
    expect(s.estimateMs('m0', 0)).toBeUndefined();
  });

  it('replays exactly from the same seed and clock', () => {
    const a = simulate({ serviceMs: [1, 3, 5], clients: 4, requests: 2000, seed: 11 });
    const b = simulate({ serviceMs: [1, 3, 5], clients: 4, requests: 2000, seed: 11 });
    expect(a).toEqual(b);
  });
});
