import { describe, expect, it } from 'vitest';
import { chooseNatsSource, DEFAULT_NATS_IMAGE, metricSamples, metricSum, seededRandom } from './index.js';

describe('chooseNatsSource', () => {
  const never = () => {
    throw new Error('must not be probed');
  };

  it('prefers NATS_URL without probing anything else', () => {
    expect(chooseNatsSource({ env: { NATS_URL: 'nats://x:1' }, findBinary: never, dockerAnswers: never })).toEqual({ kind: 'env', url: 'nats://x:1' });
  });

  it('then a nats-server binary on PATH', () => {
    expect(chooseNatsSource({ env: {}, findBinary: () => '/usr/bin/nats-server', dockerAnswers: never })).toEqual({ kind: 'binary', path: '/usr/bin/nats-server' });
  });

  it('then a container, with the image named by NATS_IMAGE', () => {
    expect(chooseNatsSource({ env: {}, findBinary: () => undefined, dockerAnswers: () => true })).toEqual({ kind: 'container', image: DEFAULT_NATS_IMAGE });
    expect(chooseNatsSource({ env: { NATS_IMAGE: 'local/nats:1' }, findBinary: () => undefined, dockerAnswers: () => true })).toEqual({ kind: 'container', image: 'local/nats:1' });
  });

  it('else says how to get one', () => {
    const s = chooseNatsSource({ env: { NATS_URL: '  ' }, findBinary: () => undefined, dockerAnswers: () => false });
    expect(s.kind).toBe('none');
    expect(s.kind === 'none' && s.reason).toMatch(/NATS_URL.*nats-server.*Docker/s);
  });
});

describe('seededRandom', () => {
  it('replays from a seed and stays in [0, 1)', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom(8)()).not.toBe(xs[0]);
  });
});

describe('metricSamples and metricSum', () => {
  const text = [
    '# HELP synod_x_total x',
    '# TYPE synod_x_total counter',
    'synod_x_total{reason="A",app="consensus"} 2',
    'synod_x_total{reason="B",app="consensus"} 3',
    'synod_x_total_more{reason="A"} 100',
    'synod_y 7',
  ].join('\n');

  it('reads every sample of one metric with its labels, and sums those matching', () => {
    expect(metricSamples(text, 'synod_x_total')).toEqual([
      { labels: { reason: 'A', app: 'consensus' }, value: 2 },
      { labels: { reason: 'B', app: 'consensus' }, value: 3 },
    ]);
    expect(metricSamples(text, 'synod_y')).toEqual([{ labels: {}, value: 7 }]);
    expect(metricSum(text, 'synod_x_total')).toBe(5);
    expect(metricSum(text, 'synod_x_total', { reason: 'B' })).toBe(3);
    expect(metricSum(text, 'synod_x_total', { reason: 'C' })).toBe(0);
  });
});
