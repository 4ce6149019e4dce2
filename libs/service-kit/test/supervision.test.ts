import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, ProcessMetrics, Registry, readyOf, type SupervisedChild } from '../src/index.js';

/** A supervised process answering metric requests from its own registry, as answerMetricsRequests does over IPC. */
function child(registry: Registry | undefined): SupervisedChild {
  const events = new EventEmitter();
  return {
    isConnected: () => true,
    on: (event, listener) => events.on(event, listener),
    send(message: unknown) {
      const m = message as { type: string; id: number };
      if (registry) void registry.getMetricsAsJSON().then((metrics) => events.emit('message', { type: 'synod:metrics', id: m.id, metrics }));
      return true;
    },
  };
}

function registryWith(requests: number, inFlight: number, seconds: number[]): Registry {
  const r = new Registry();
  r.setDefaultLabels({ app: 'balancer-gateway' });
  new Counter({ name: 'requests_total', help: 'h', labelNames: ['status'], registers: [r] }).inc({ status: '200' }, requests);
  new Gauge({ name: 'in_flight', help: 'h', registers: [r] }).set(inFlight);
  const h = new Histogram({ name: 'duration_seconds', help: 'h', buckets: [0.1, 1], registers: [r] });
  for (const s of seconds) h.observe(s);
  return r;
}

describe('ProcessMetrics', () => {
  it('adds counters and histograms up over the processes, and labels each gauge with its process', async () => {
    const own = registryWith(0, 0, []);
    const pm = new ProcessMetrics(own, 500);
    pm.attach('1', child(registryWith(3, 2, [0.05])));
    pm.attach('2', child(registryWith(4, 5, [0.5, 2])));
    const text = await pm.text();
    expect(text).toContain('requests_total{status="200",app="balancer-gateway"} 7');
    expect(text).not.toMatch(/requests_total\{[^}]*process=/);
    expect(text).toContain('in_flight{app="balancer-gateway",process="1"} 2');
    expect(text).toContain('in_flight{app="balancer-gateway",process="2"} 5');
    expect(text).toContain('in_flight{app="balancer-gateway",process="primary"} 0');
    expect(text).toMatch(/duration_seconds_bucket\{le="0.1",app="balancer-gateway"\} 1/);
    expect(text).toMatch(/duration_seconds_count\{app="balancer-gateway"\} 3/);
  });

  it('leaves out a process that does not answer in time', async () => {
    const pm = new ProcessMetrics(registryWith(0, 0, []), 100);
    pm.attach('1', child(registryWith(3, 2, [])));
    pm.attach('2', child(undefined));
    const text = await pm.text();
    expect(text).toContain('in_flight{app="balancer-gateway",process="1"} 2');
    expect(text).not.toContain('process="2"');
  });

  it('reads ready messages and nothing else', () => {
    expect(readyOf({ type: 'synod:ready', ready: { port: 1 } })).toEqual({ port: 1 });
    for (const m of [null, 'ready', { type: 'synod:ready' }, { type: 'other', ready: {} }, { type: 'synod:ready', ready: 3 }]) expect(readyOf(m)).toBeUndefined();
  });
});
