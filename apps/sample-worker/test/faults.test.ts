import { describe, expect, it } from 'vitest';
import { SynodError } from '@synod/protocol';
import { Faults, seededRandom } from '../src/faults.js';
import { sampleWorker } from '../src/worker.js';

describe('fault injection', () => {
  it('a seed replays the same sequence, another seed gives another', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 100 }, () => a());
    expect(Array.from({ length: 100 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('fails the share of jobs the rate asks for, decided by the injected random source', async () => {
    const faults = new Faults({ extraLatencyMs: 0, failRate: 0.25, random: seededRandom(7) });
    const signal = new AbortController().signal;
    let failed = 0;
    for (let i = 0; i < 4000; i++) {
      try {
        await faults.apply(signal);
      } catch (err) {
        expect(err).toBeInstanceOf(SynodError);
        expect(err).toMatchObject({ code: 'INTERNAL', details: { injected: true } });
        failed++;
      }
    }
    // Binomial(4000, 0.25): mean 1000, sd 27; the seed makes it exact anyway.
    expect(failed).toBeGreaterThan(900);
    expect(failed).toBeLessThan(1100);
  });

  it('decides with the random source alone: below the rate fails, at or above it passes', async () => {
    const draws = [0.1, 0.5, 0.3];
    const faults = new Faults({ extraLatencyMs: 0, failRate: 0.3, random: () => draws.shift()! });
    const signal = new AbortController().signal;
    await expect(faults.apply(signal)).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(faults.apply(signal)).resolves.toBeUndefined();
    await expect(faults.apply(signal)).resolves.toBeUndefined();
  });

  it('is inactive and draws nothing at the defaults', () => {
    const faults = new Faults({ extraLatencyMs: 0, failRate: 0, random: () => expect.unreachable('no draw') as never });
    expect(faults.active).toBe(false);
    expect(new Faults({ extraLatencyMs: 1, failRate: 0, random: Math.random }).active).toBe(true);
  });

  it('extra latency gives way to the deadline', async () => {
    const faults = new Faults({ extraLatencyMs: 60_000, failRate: 0, random: Math.random });
    const c = new AbortController();
    const p = faults.apply(c.signal);
    c.abort(new SynodError('DEADLINE_EXCEEDED', 'deadline passed'));
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('sample worker env', () => {
  it('defaults to no degradation', () => {
    expect(sampleWorker.parseEnv({})).toMatchObject({ ok: true, config: { WORKER_EXTRA_LATENCY_MS: 0, WORKER_FAIL_RATE: 0, WORKER_SERVICE: 'sample' } });
  });

  it.each([
    ['0.05', 0.05],
    ['1', 1],
    ['.5', 0.5],
    ['0', 0],
  ])('WORKER_FAIL_RATE=%s is %d', (raw, rate) => {
    expect(sampleWorker.parseEnv({ WORKER_FAIL_RATE: raw })).toMatchObject({ ok: true, config: { WORKER_FAIL_RATE: rate } });
  });

  it.each(['1.5', '-0.1', 'often', '1e-3'])('WORKER_FAIL_RATE=%s is refused, naming the variable', (raw) => {
    const r = sampleWorker.parseEnv({ WORKER_FAIL_RATE: raw });
    expect(r).toMatchObject({ ok: false, issues: [{ variable: 'WORKER_FAIL_RATE', expected: 'expected a number from 0 to 1' }] });
  });

  it('WORKER_EXTRA_LATENCY_MS and WORKER_FAIL_SEED are integers', () => {
    expect(sampleWorker.parseEnv({ WORKER_EXTRA_LATENCY_MS: '25', WORKER_FAIL_SEED: '9' })).toMatchObject({
      ok: true,
      config: { WORKER_EXTRA_LATENCY_MS: 25, WORKER_FAIL_SEED: 9 },
    });
    expect(sampleWorker.parseEnv({ WORKER_EXTRA_LATENCY_MS: '2.5' })).toMatchObject({ ok: false, issues: [{ variable: 'WORKER_EXTRA_LATENCY_MS' }] });
  });

  it('declares every endpoint idempotent', () => {
    expect(Object.entries(sampleWorker.definition.endpoints).map(([n, e]) => [n, e.idempotent])).toEqual([
      ['echo', true],
      ['hash', true],
      ['sleep', true],
    ]);
  });
});
