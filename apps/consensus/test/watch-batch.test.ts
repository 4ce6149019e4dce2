import { describe, expect, it } from 'vitest';
import type { WatchEvent } from '@synod/protocol';
import { eventsThatFit } from '../src/kv/watches.js';

const event = (revision: number, valueChars: number): WatchEvent => ({
  type: 'put',
  kv: { key: `k${revision}`, value: 'v'.repeat(valueChars), createRevision: revision, modRevision: revision, version: 1, lease: 0 },
});
const size = (e: WatchEvent) => Buffer.byteLength(JSON.stringify(e)) + 1;

describe('watch messages fit one bus message', () => {
  it('small events all go at once, unmeasured', () => {
    const events = Array.from({ length: 1000 }, (_, i) => event(i + 1, 10));
    expect(eventsThatFit(events, 1024 * 1024)).toBe(1000);
  });

  it('large events are cut where the budget ends', () => {
    const events = Array.from({ length: 12 }, (_, i) => event(i + 1, 100_000));
    const fit = eventsThatFit(events, 1024 * 1024 - 1024);
    expect(fit).toBe(10);
    expect(events.slice(0, fit).reduce((n, e) => n + size(e), 0)).toBeLessThanOrEqual(1024 * 1024 - 1024);
  });

  it('events of one revision stay together (a txn): the cut falls before that revision', () => {
    const events = [event(1, 400), { ...event(2, 400) }, { ...event(2, 400), kv: { ...event(2, 400).kv, key: 'other' } }, event(3, 10)];
    const budget = size(events[0]!) + size(events[1]!) + 10;
    expect(eventsThatFit(events, budget)).toBe(1);
  });

  it('nothing fits when the first revision alone is too large', () => {
    expect(eventsThatFit([event(1, 5000)], 1000)).toBe(0);
  });
});
