import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { abortAfter } from '../src/lock-service.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('abortAfter: the end of one wait', () => {
  it('aborts with a TIMEOUT after its time', async () => {
    const parent = new AbortController();
    const stop = abortAfter(parent.signal, 20);
    expect(stop.signal.aborted).toBe(false);
    await sleep(60);
    expect(stop.signal.aborted).toBe(true);
    expect(stop.signal.reason).toMatchObject({ code: 'TIMEOUT' });
    stop.release();
  });

  it('aborts with its parent, with the parent reason', () => {
    const parent = new AbortController();
    const stop = abortAfter(parent.signal, 10_000);
    parent.abort(new Error('request over'));
    expect(stop.signal.aborted).toBe(true);
    expect((stop.signal.reason as Error).message).toBe('request over');
    stop.release();
    const already = abortAfter(parent.signal, 10_000);
    expect(already.signal.aborted).toBe(true);
    already.release();
  });

  it('once released, leaves no listener on the parent and never fires', async () => {
    const parent = new AbortController();
    const stops = Array.from({ length: 100 }, () => abortAfter(parent.signal, 20));
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(100);
    for (const s of stops) s.release();
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
    await sleep(60);
    expect(stops.every((s) => !s.signal.aborted)).toBe(true);
  });
});
