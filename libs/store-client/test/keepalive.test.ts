import { SynodError } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { StoreClient } from '../src/index.js';
import { FakeClock, fakeTransport, type Sent } from './fakes.js';

function setup(handler: (s: Sent, n: number) => unknown) {
  const clock = new FakeClock();
  const t = fakeTransport(clock, handler);
  const client = new StoreClient({ namespace: 'unit', request: t.request, clock, random: () => 0.5, timeoutMs: 5000, attemptTimeoutMs: 1000 });
  const keepAlives = () => t.sent.filter((s) => s.body.type === 'leaseKeepAlive');
  return { clock, client, t, keepAlives };
}

describe('keepAlive', () => {
  it('sends a keep-alive at once and then every TTL/3, until stopped', async () => {
    const { clock, client, keepAlives } = setup(() => ({ id: 7, ttlMs: 3000 }));
    const lost: SynodError[] = [];
    const h = client.keepAlive(7, { onLost: (e) => lost.push(e) });
    await clock.advance(0);
    expect(h.ttlMs).toBe(3000);
    await clock.advance(3000);
    expect(keepAlives().map((s) => s.at)).toEqual([0, 1000, 2000, 3000]);
    expect(keepAlives().every((s) => s.subject === 'unit.kv.leader' && s.body.id === 7)).toBe(true);
    h.stop();
    await h.done;
    await clock.advance(10_000);
    expect(keepAlives()).toHaveLength(4);
    expect(lost).toEqual([]);
    expect(h.signal.aborted).toBe(false);
  });

  it('reports LEASE_NOT_FOUND through onLost and the signal, once', async () => {
    const { clock, client, keepAlives } = setup((_s, n) => {
      if (n >= 3) throw new SynodError('LEASE_NOT_FOUND', 'lease 7 does not exist');
      return { id: 7, ttlMs: 3000 };
    });
    const lost: SynodError[] = [];
    const h = client.keepAlive(7, { onLost: (e) => lost.push(e) });
    await clock.advance(5000);
    await h.done;
    expect(lost.map((e) => e.code)).toEqual(['LEASE_NOT_FOUND']);
    expect(h.signal.aborted).toBe(true);
    expect(h.signal.reason).toBe(lost[0]);
    expect(keepAlives()).toHaveLength(3);
  });

  it('reports the lease lost when no keep-alive succeeds within the TTL, and not before', async () => {
    let down = false;
    const { clock, client, keepAlives } = setup(() => {
      if (down) throw new SynodError('NO_RESPONDERS', 'no leader');
      return { id: 7, ttlMs: 3000 };
    });
    const lost: SynodError[] = [];
    const h = client.keepAlive(7, { onLost: (e) => lost.push(e) });
    await clock.advance(1000); // keep-alives at 0 and 1000 succeed
    down = true;
    await clock.advance(2900);
    expect(lost).toEqual([]);
    await clock.advance(200);
    await h.done;
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(SynodError);
    expect(lost[0]?.message).toMatch(/presumed lost/);
    expect(h.signal.aborted).toBe(true);
    // retried in between, each within what was left of the TTL
    expect(keepAlives().length).toBeGreaterThan(5);
    expect(Math.max(...keepAlives().map((s) => s.at + s.timeoutMs))).toBeLessThanOrEqual(4000);
  });

  it('recovers when a keep-alive succeeds again before the TTL runs out', async () => {
    let down = false;
    const { clock, client } = setup(() => {
      if (down) throw new SynodError('NOT_LEADER', 'election');
      return { id: 7, ttlMs: 3000 };
    });
    const lost: SynodError[] = [];
    const h = client.keepAlive(7, { onLost: (e) => lost.push(e) });
    await clock.advance(100);
    down = true;
    await clock.advance(2000);
    down = false;
    await clock.advance(10_000);
    expect(lost).toEqual([]);
    h.stop();
    await h.done;
  });

  it('a lease already gone at the start is lost at once', async () => {
    const { clock, client } = setup(() => {
      throw new SynodError('LEASE_NOT_FOUND', 'gone');
    });
    const h = client.keepAlive(9);
    await clock.advance(0);
    await h.done;
    expect(h.signal.aborted).toBe(true);
    expect((h.signal.reason as SynodError).code).toBe('LEASE_NOT_FOUND');
  });
});
