import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OUTLIER, DEFAULT_SLOW_START } from '@synod/balancing';
import { ErrorEnvelope, GatewayAdminApplied, GatewayStats, ReplyEnvelope, type WorkerAnnounce } from '@synod/protocol';
import { Router, WorkerRegistry } from '@synod/routing';
import { createRootLogger, type NatsConnection } from '@synod/service-kit';
import { GatewayBusApi } from '../src/bus-api.js';

const log = createRootLogger({ service: 'gw', instance: 'bus-test', level: 'silent' });
const enc = new TextEncoder();

function setup() {
  const registry = new WorkerRegistry(60_000);
  const announce = (id: string, service: string): WorkerAnnounce => ({ type: 'announce', v: 1, id, service, weight: 3, endpoints: ['echo'], heartbeatIntervalMs: 1000, load: { inFlight: 0, served: 0, errors: 0 } });
  registry.upsert(announce('w1', 'sample'), 0);
  registry.upsert(announce('b1', 'billing'), 0);
  const router = new Router({
    transport: { send: () => Promise.reject(new Error('unused')), ping: () => Promise.resolve() },
    registry,
    strategy: 'weighted',
    overrides: new Map([['planned', 'p2c-ewma']]),
    random: Math.random,
    log,
    ewma: { decayMs: 10_000, failurePenaltyMs: 500 },
    slowStart: DEFAULT_SLOW_START,
    outlier: DEFAULT_OUTLIER,
    retry: { budget: { ratio: 0.2, minPerSecond: 0, maxTokens: 10 }, maxAttempts: 3, attemptTimeoutMs: 0, idempotent: new Set() },
    defaultMaxConcurrency: 0,
    maxPending: 10,
  });
  // The handlers under test do not touch the connection (start() does).
  const bus = new GatewayBusApi({ nc: {} as NatsConnection, namespace: 'ns', gateway: 'gw-1', process: 2, registry, router, log });
  const admin = (command: unknown) => bus.handleAdmin(enc.encode(JSON.stringify(command)));
  const command = (op: Record<string, unknown>) => ({ type: 'admin', v: 1, from: 'synodctl', id: 'c1', ...op });
  return { registry, router, bus, admin, command };
}

const applied = (reply: unknown) => GatewayAdminApplied.parse((reply as { result: unknown }).result);

describe('gateway bus API: admin', () => {
  it('sets and clears a weight, naming this gateway and process in the answer', () => {
    const { admin, command, registry } = setup();
    expect(applied(admin(command({ op: 'weight', worker: 'w1', weight: 1 })))).toEqual({ gateway: 'gw-1', process: 2, ok: true, state: { id: 'w1', weight: 1, reportedWeight: 3, weightOverride: 1 } });
    expect(registry.get('w1')!.weight).toBe(1);
    expect(applied(admin(command({ op: 'weight', worker: 'w1', weight: null }))).state).toEqual({ id: 'w1', weight: 3, reportedWeight: 3 });
    expect(applied(admin(command({ op: 'weight', worker: 'nobody', weight: 1 })))).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('sets a strategy only for a service with a live worker or one LB_STRATEGY_OVERRIDES names; __proto__ and the like are not kept', () => {
    const { admin, command, router } = setup();
    expect(applied(admin(command({ op: 'strategy', service: 'sample', strategy: 'random' })))).toMatchObject({ ok: true, state: { service: 'sample', strategy: 'random', overridden: true } });
    expect(applied(admin(command({ op: 'strategy', service: 'sample', strategy: null })))).toMatchObject({ ok: true, state: { strategy: 'weighted', overridden: false } });
    expect(applied(admin(command({ op: 'strategy', service: 'planned', strategy: 'random' })))).toMatchObject({ ok: true, state: { strategy: 'random' } });
    for (const service of ['ghost', '__proto__', 'constructor', 'hasOwnProperty']) {
      for (const strategy of ['random', null]) {
        const r = applied(admin(command({ op: 'strategy', service, strategy })));
        expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
        expect(r.error!.message).toContain('LB_STRATEGY_OVERRIDES');
      }
      expect(router.hasRuntimeStrategy(service)).toBe(false);
      expect(router.strategyOf(service)).toBe('weighted');
    }
    expect(applied(admin(command({ op: 'strategy', service: 'sample', strategy: 'fastest' })))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('answers garbage, wrong types and oversized messages with the error envelope', () => {
    const { bus, admin, command } = setup();
    const envelope = (reply: unknown) => ErrorEnvelope.parse(reply).error.code;
    expect(envelope(bus.handleAdmin(enc.encode('{nope')))).toBe('BAD_REQUEST');
    expect(envelope(admin(command({ op: 'weight', worker: 'w1', weight: 'heavy' })))).toBe('BAD_REQUEST');
    expect(envelope(admin(command({ op: 'weight', worker: 'w.1', weight: 1 })))).toBe('BAD_REQUEST');
    expect(envelope(admin({ ...command({ op: 'strategy', service: 'sample', strategy: 'random' }), v: 2 }))).toBe('BAD_REQUEST');
    expect(envelope(admin(command({ op: 'drop-everything' })))).toBe('BAD_REQUEST');
    expect(envelope(bus.handleAdmin(new Uint8Array(70_000).fill(0x20)))).toBe('PAYLOAD_TOO_LARGE');
  });

  it('never throws and always answers a reply envelope, whatever arrives (fuzz)', () => {
    const { bus } = setup();
    const arbitraryJson = fc.jsonValue().map((v) => enc.encode(JSON.stringify(v)));
    const nearCommand = fc
      .record({
        type: fc.constantFrom('admin', 'stats', 'x'),
        v: fc.constantFrom(1, 2, '1'),
        from: fc.string(),
        id: fc.string(),
        op: fc.constantFrom('weight', 'strategy', '__proto__'),
        worker: fc.oneof(fc.constantFrom('w1', 'nobody', '__proto__'), fc.string()),
        service: fc.oneof(fc.constantFrom('sample', 'planned', '__proto__'), fc.string()),
        weight: fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string()),
        strategy: fc.oneof(fc.constantFrom('random', 'p2c-ewma', '__proto__', 'toString'), fc.constant(null), fc.string()),
      }, { requiredKeys: [] })
      .map((v) => enc.encode(JSON.stringify(v)));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), arbitraryJson, nearCommand), (data) => {
        for (const reply of [bus.handleAdmin(data), bus.handleStats(data)]) expect(ReplyEnvelope.safeParse(reply).success).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('gateway bus API: stats', () => {
  it("answers with this process's workers and services, all or one service's", () => {
    const { bus } = setup();
    const all = GatewayStats.parse((bus.handleStats(enc.encode('{"type":"stats","v":1}')) as { result: unknown }).result);
    expect(all).toMatchObject({ gateway: 'gw-1', process: 2, pending: 0, pendingPeak: 0 });
    expect(all.workers.map((w) => w.id).sort()).toEqual(['b1', 'w1']);
    expect(all.services.map((s) => s.service).sort()).toEqual(['billing', 'sample']);
    const one = GatewayStats.parse((bus.handleStats(enc.encode('{"type":"stats","v":1,"service":"billing"}')) as { result: unknown }).result);
    expect(one.workers.map((w) => w.id)).toEqual(['b1']);
    expect(one.services).toEqual([{ service: 'billing', strategy: 'weighted', workers: 1, ejected: 0, endpoints: ['echo'] }]);
  });
});
