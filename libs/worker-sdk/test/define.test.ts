import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { env } from '@synod/service-kit';
import { defineWorker } from '../src/index.js';

const add = {
  input: z.object({ a: z.number(), b: z.number() }),
  output: z.object({ sum: z.number() }),
  handler: ({ a, b }: { a: number; b: number }) => ({ sum: a + b }),
};

describe('defineWorker', () => {
  it('takes the worker env contract with the definition as default service, plus its own variables', () => {
    const w = defineWorker({ service: 'calc', env: { CALC_OFFSET: env.int({ min: 0, max: 9, default: 1 }) }, endpoints: { add } });
    const r = w.parseEnv({});
    expect(r).toMatchObject({
      ok: true,
      config: {
        WORKER_SERVICE: 'calc',
        WORKER_WEIGHT: 1,
        HEARTBEAT_INTERVAL_MS: 1000,
        MAX_REQUEST_BYTES: 262144,
        SYNOD_NAMESPACE: 'synod',
        NATS_URL: ['nats://127.0.0.1:4222'],
        CALC_OFFSET: 1,
      },
    });
    if (r.ok) {
      expect(r.config.WORKER_ID).toBeUndefined();
      expect(r.config.WORKER_MAX_CONCURRENCY).toBeUndefined();
    }
    const other = w.parseEnv({ WORKER_SERVICE: 'calc-b', WORKER_MAX_CONCURRENCY: '4', CALC_OFFSET: '3', WORKER_ID: 'c1' });
    expect(other).toMatchObject({ ok: true, config: { WORKER_SERVICE: 'calc-b', WORKER_MAX_CONCURRENCY: 4, CALC_OFFSET: 3, WORKER_ID: 'c1' } });
  });

  it('names every bad variable with what it expected', () => {
    const w = defineWorker({ service: 'calc', env: { CALC_OFFSET: env.int({ min: 0, max: 9, default: 1 }) }, endpoints: { add } });
    const r = w.parseEnv({ WORKER_MAX_CONCURRENCY: '0', WORKER_SERVICE: 'a.b', CALC_OFFSET: 'x', SYNOD_NAMESPACE: 'a b' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.fromEntries(r.issues.map((i) => [i.variable, i.expected]))).toEqual({
      WORKER_MAX_CONCURRENCY: 'expected an integer from 1 to 100000',
      WORKER_SERVICE: 'expected a service name: 1-64 letters, digits, _ or -',
      CALC_OFFSET: 'expected an integer from 0 to 9',
      SYNOD_NAMESPACE: 'expected a namespace: 1-4 dot-separated tokens of letters, digits, _ or -',
    });
  });

  it('refuses a definition the bus could not carry', () => {
    expect(() => defineWorker({ service: 'a.b', endpoints: { add } })).toThrow(/invalid service name/);
    expect(() => defineWorker({ service: 'calc', endpoints: { _ping: add } })).toThrow(/invalid endpoint name/);
    expect(() => defineWorker({ service: 'calc', endpoints: {} })).toThrow(/at least one endpoint/);
    expect(() => defineWorker({ service: 'calc', version: '', endpoints: { add } })).toThrow(/version/);
  });

  it('keeps the definition for direct tests of handlers', async () => {
    const w = defineWorker({ service: 'calc', endpoints: { add } });
    expect(Object.keys(w.definition.endpoints)).toEqual(['add']);
    expect(await w.definition.endpoints.add?.handler({ a: 1, b: 2 }, undefined as never)).toEqual({ sum: 3 });
  });
});
