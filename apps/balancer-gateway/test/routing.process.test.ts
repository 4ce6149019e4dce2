import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post, Stack, waitForWorkers, workers } from './stack.js';

/** Routing by strategy through real processes: exact shares, strict rotation, seeded-free random. */
describe('routing through the gateway to sample workers', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
    await Promise.all([
      stack.worker({ WORKER_ID: 'a', WORKER_WEIGHT: '5' }),
      stack.worker({ WORKER_ID: 'b', WORKER_WEIGHT: '1' }),
      stack.worker({ WORKER_ID: 'c', WORKER_WEIGHT: '1' }),
    ]);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('weighted: 700 sequential requests split exactly 500/100/100 by x-synod-worker', async () => {
    const gw = await stack.gateway({ LB_STRATEGY: 'weighted' });
    await waitForWorkers(gw.url, ['a', 'b', 'c']);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 700; i++) {
      const r = await post(gw.url, '/v1/services/sample/echo', { message: `m${i}` });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ message: `m${i}`, worker: r.worker });
      counts[r.worker!] = (counts[r.worker!] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 500, b: 100, c: 100 });
    // The gateway's own counters agree.
    const served = Object.fromEntries((await workers(gw.url)).map((w) => [w.id, w.served]));
    expect(served).toEqual({ a: 500, b: 100, c: 100 });
  });

  it('round-robin: strict rotation regardless of weights', async () => {
    const gw = await stack.gateway({ LB_STRATEGY: 'round-robin' });
    await waitForWorkers(gw.url, ['a', 'b', 'c']);
    const seq: string[] = [];
    for (let i = 0; i < 30; i++) seq.push((await post(gw.url, '/v1/services/sample/echo', { message: 'x' })).worker!);
    for (let i = 0; i + 3 <= seq.length; i++) expect(new Set(seq.slice(i, i + 3)).size).toBe(3);
  });

  it('random: every worker gets a share within bounds', async () => {
    const gw = await stack.gateway({ LB_STRATEGY: 'random' });
    await waitForWorkers(gw.url, ['a', 'b', 'c']);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const w = (await post(gw.url, '/v1/services/sample/echo', { message: 'x' })).worker!;
      counts[w] = (counts[w] ?? 0) + 1;
    }
    // Uniform over 3 workers: 100 expected each; 40..160 holds with probability > 1 - 1e-9.
    for (const id of ['a', 'b', 'c']) {
      expect(counts[id]).toBeGreaterThan(40);
      expect(counts[id]).toBeLessThan(160);
    }
  });

  it('two gateways on one namespace both see every worker and both route', async () => {
    const [g1, g2] = await Promise.all([stack.gateway(), stack.gateway()]);
    await waitForWorkers(g1.url, ['a', 'b', 'c']);
    await waitForWorkers(g2.url, ['a', 'b', 'c']);
    for (const gw of [g1, g2]) {
      const seen = new Set<string>();
      for (let i = 0; i < 7; i++) seen.add((await post(gw.url, '/v1/services/sample/echo', { message: 'x' })).worker!);
      expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    }
  });
});
