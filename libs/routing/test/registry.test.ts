import { describe, expect, it } from 'vitest';
import type { WorkerAnnounce } from '@synod/protocol';
import { WorkerRegistry } from '../src/registry.js';

const announce = (id: string, over: Partial<WorkerAnnounce> = {}): WorkerAnnounce => ({
  type: 'announce',
  v: 1,
  id,
  service: 'sample',
  weight: 1,
  endpoints: ['echo'],
  heartbeatIntervalMs: 100,
  load: { inFlight: 0, served: 0, errors: 0 },
  ...over,
});

describe('WorkerRegistry', () => {
  it('adds workers once and refreshes them on heartbeats', () => {
    const r = new WorkerRegistry(1000);
    expect(r.upsert(announce('a'), 0)?.kind).toBe('joined');
    expect(r.upsert(announce('a', { type: 'heartbeat', weight: 3 }), 500)).toBeUndefined();
    expect(r.workersOf('sample').map((w) => [w.id, w.weight, w.lastSeen])).toEqual([['a', 3, 500]]);
  });

  it('expires a worker only after expiryMs without a heartbeat', () => {
    const r = new WorkerRegistry(1000);
    r.upsert(announce('a'), 0);
    r.upsert(announce('b'), 400);
    expect(r.sweep(1000)).toEqual([]);
    const left = r.sweep(1001);
    expect(left.map((c) => [c.worker.id, c.reason])).toEqual([['a', 'expired']]);
    expect(r.workersOf('sample').map((w) => w.id)).toEqual(['b']);
    expect(r.sweep(1401).map((c) => c.worker.id)).toEqual(['b']);
    expect(r.size).toBe(0);
  });

  it('keeps the service and its endpoints known after its workers leave', () => {
    const r = new WorkerRegistry(1000);
    r.upsert(announce('a', { endpoints: ['echo', 'sleep'] }), 0);
    r.remove('a');
    expect(r.workersOf('sample')).toEqual([]);
    expect(r.isKnownService('sample')).toBe(true);
    expect(r.isKnownEndpoint('sample', 'sleep')).toBe(true);
    expect(r.isKnownEndpoint('sample', 'hash')).toBe(false);
    expect(r.isKnownService('other')).toBe(false);
  });

  it('moves a worker id that re-announces under another service', () => {
    const r = new WorkerRegistry(1000);
    r.upsert(announce('a'), 0);
    r.upsert(announce('a', { service: 'other' }), 1);
    expect(r.workersOf('sample')).toEqual([]);
    expect(r.workersOf('other').map((w) => w.id)).toEqual(['a']);
  });

  it('keeps arrival order and a cached list until membership changes', () => {
    const r = new WorkerRegistry(1000);
    r.upsert(announce('b'), 0);
    r.upsert(announce('a'), 0);
    const first = r.workersOf('sample');
    expect(first.map((w) => w.id)).toEqual(['b', 'a']);
    r.upsert(announce('a', { type: 'heartbeat' }), 10);
    expect(r.workersOf('sample')).toBe(first);
    r.upsert(announce('c'), 10);
    expect(r.workersOf('sample').map((w) => w.id)).toEqual(['b', 'a', 'c']);
  });

  it('views rows with ages from the given clock', () => {
    const r = new WorkerRegistry(1000);
    r.upsert(announce('a', { version: '1.2.0', load: { inFlight: 2, served: 5, errors: 1 } }), 1_000);
    const [row] = r.view(1_250);
    expect(row).toMatchObject({ id: 'a', version: '1.2.0', lastHeartbeatAgeMs: 250, reported: { inFlight: 2, served: 5, errors: 1 } });
    expect(row!.lastHeartbeat).toBe(new Date(1_000).toISOString());
  });
});

describe('registry weights and declarations', () => {
  const announce = (over: Partial<WorkerAnnounce> = {}): WorkerAnnounce => ({
    type: 'announce',
    v: 1,
    id: 'a',
    service: 'sample',
    weight: 3,
    endpoints: ['echo', 'sleep'],
    heartbeatIntervalMs: 100,
    load: { inFlight: 0, served: 0, errors: 0 },
    ...over,
  });

  it('an override wins over heartbeats until cleared', () => {
    const r = new WorkerRegistry(1000);
    r.upsert(announce({ idempotent: ['echo'], maxConcurrency: 4 }), 0);
    const before = r.workersOf('sample');
    expect(r.setWeightOverride('a', 1)).toBe(true);
    expect(r.workersOf('sample')).not.toBe(before);
    r.upsert(announce({ type: 'heartbeat', weight: 5 }), 10);
    expect(r.get('a')).toMatchObject({ weight: 1, reportedWeight: 5, weightOverride: 1, maxConcurrency: undefined, joinedAt: 0 });
    expect(r.setWeightOverride('a', undefined)).toBe(true);
    expect(r.get('a')!.weight).toBe(5);
    expect(r.setWeightOverride('nobody', 1)).toBe(false);
    expect(r.view(10)[0]).toMatchObject({ weight: 5, reportedWeight: 5 });
    expect([...r.get('a')!.idempotent]).toEqual([]);
    r.upsert(announce({ type: 'heartbeat', idempotent: ['sleep'], maxConcurrency: 2 }), 20);
    expect(r.get('a')).toMatchObject({ maxConcurrency: 2 });
    expect([...r.get('a')!.idempotent]).toEqual(['sleep']);
  });
});
