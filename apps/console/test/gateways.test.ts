import type { GatewayStats, WorkerView } from '@synod/protocol';
import { GatewayStats as GatewayStatsSchema } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { adminOutcome, readAnswers, statsOutcome, summarize, withRates } from '../src/gateways.js';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const SUBJECT = 't.gateway.stats';

const worker = (over: Partial<WorkerView> & Pick<WorkerView, 'id' | 'service'>): WorkerView => ({
  weight: 1,
  endpoints: ['echo'],
  lastHeartbeat: '2026-01-01T00:00:00.000Z',
  lastHeartbeatAgeMs: 10,
  inFlight: 0,
  served: 0,
  errors: 0,
  reported: { inFlight: 0, served: 0, errors: 0 },
  ...over,
});

const stats = (process: number, over: Partial<GatewayStats> = {}): GatewayStats => ({
  gateway: 'gw',
  process,
  workers: [],
  services: [],
  pending: 0,
  pendingPeak: 0,
  ...over,
});

describe('reading the gateways’ answers', () => {
  it('keeps what the protocol accepts and turns the rest into problems, without throwing', () => {
    const good = stats(1);
    const { ok, problems } = readAnswers(
      SUBJECT,
      [enc({ result: good }), enc('{not json'), enc({ hello: 1 }), enc({ error: { code: 'BAD_REQUEST', message: 'no', retryable: false } }), enc({ result: { ...good, workers: 'many' } }), new Uint8Array([0xff, 0xfe])],
      GatewayStatsSchema,
    );
    expect(ok).toEqual([good]);
    expect(problems.map((p) => p.code)).toEqual(['BAD_GATEWAY', 'BAD_GATEWAY', 'BAD_REQUEST', 'BAD_GATEWAY', 'BAD_GATEWAY']);
    expect(problems[3]!.message).toContain('workers');
  });

  it('answers UNAVAILABLE when no gateway answered, and a view with the problems when only bad answers came', () => {
    expect(() => statsOutcome(SUBJECT, [], 1)).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
    expect(statsOutcome(SUBJECT, [enc('garbage')], 1)).toMatchObject({ services: [], problems: [{ code: 'BAD_GATEWAY' }] });
  });
});

describe('the services view', () => {
  it("sums counters over gateway processes, keeps the worst latency and the lowest weight, and shows disagreeing strategies", () => {
    const a = stats(1, {
      services: [{ service: 'billing', strategy: 'round-robin', workers: 2, ejected: 0, endpoints: ['charge'], p50Ms: 3, p99Ms: 9 }],
      workers: [worker({ id: 'b1', service: 'billing', served: 10, errors: 1, inFlight: 2, ewmaMs: 4 }), worker({ id: 'b2', service: 'billing', served: 5, weight: 0, weightOverride: 0 })],
    });
    const b = stats(2, {
      services: [
        { service: 'billing', strategy: 'least-outstanding', workers: 2, ejected: 1, endpoints: ['charge', 'refund'], p50Ms: 4, p99Ms: 7 },
        { service: 'sample', strategy: 'round-robin', workers: 1, ejected: 0, endpoints: ['echo'] },
      ],
      workers: [
        worker({ id: 'b1', service: 'billing', served: 20, inFlight: 1, ewmaMs: 6, ejected: true, ejectedUntil: '2026-01-01T00:00:05.000Z', ejections: 1 }),
        worker({ id: 'b2', service: 'billing', served: 1, weight: 3 }),
        worker({ id: 's1', service: 'sample', served: 7 }),
      ],
    });
    const view = summarize([b, a], [], 1000);
    expect(view.gateways.map((g) => g.process)).toEqual([1, 2]);
    expect(view.services.map((s) => s.service)).toEqual(['billing', 'sample']);
    const billing = view.services[0]!;
    expect(billing).toMatchObject({ strategies: ['round-robin', 'least-outstanding'], endpoints: ['charge', 'refund'], p50Ms: 4, p99Ms: 9, served: 36, errors: 1 });
    expect(billing.workers).toEqual([
      { id: 'b1', weight: 1, inFlight: 3, served: 30, errors: 1, ewmaMs: 6, ejected: true, ejectedUntil: '2026-01-01T00:00:05.000Z', ejections: 1 },
      { id: 'b2', weight: 0, weightOverride: 0, inFlight: 0, served: 6, errors: 0, ejected: false, ejections: 0 },
    ]);
    expect(view.services[1]).toMatchObject({ service: 'sample', served: 7 });
    expect(view.services[1]!.p50Ms).toBeUndefined();
  });

  it('gives each service its request rate since the previous sample, and none after a counter went down', () => {
    const at = (t: number, served: number) =>
      summarize([stats(1, { services: [{ service: 's', strategy: 'random', workers: 1, ejected: 0, endpoints: [] }], workers: [worker({ id: 'w', service: 's', served })] })], [], t);
    const first = withRates(undefined, at(1000, 100));
    expect(first.services[0]!.ratePerS).toBeUndefined();
    expect(withRates(first, at(1500, 150)).services[0]!.ratePerS).toBe(100);
    expect(withRates(first, at(1500, 40)).services[0]!.ratePerS).toBeUndefined();
    expect(withRates(first, at(1000, 150)).services[0]!.ratePerS).toBeUndefined();
  });
});

describe('an admin change', () => {
  const subject = 't.gateway.admin';
  it('reports where it applied, and refuses as the gateways did when every one refused', () => {
    const applied = { gateway: 'gw', process: 1, ok: true, state: { service: 'billing', strategy: 'random' } };
    expect(adminOutcome(subject, [enc({ result: applied }), enc('x')])).toEqual({ applied: [applied], problems: [{ code: 'BAD_GATEWAY', message: `an answer on ${subject} is not JSON` }] });
    const refused = { gateway: 'gw', process: 1, ok: false, error: { code: 'NOT_FOUND', message: 'no live worker "zz"', retryable: false } };
    expect(() => adminOutcome(subject, [enc({ result: refused })])).toThrow(expect.objectContaining({ code: 'NOT_FOUND', message: 'no live worker "zz"' }));
    expect(() => adminOutcome(subject, [])).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
    expect(() => adminOutcome(subject, [enc({ result: { gateway: 'gw' } })])).toThrow(expect.objectContaining({ code: 'BAD_GATEWAY' }));
  });
});
