import { describe, expect, it } from 'vitest';
import { Counter, LabelBound, Registry, UNKNOWN_LABEL_VALUE, createMetricsRegistry } from '../src/index.js';

async function seriesOf(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values.length ?? 0;
}

describe('createMetricsRegistry', () => {
  it("labels every series with the app alone and keeps Node's default metrics under their standard names", async () => {
    const registry = createMetricsRegistry({ app: 'consensus' });
    new Counter({ name: 'test_things_total', help: 'x', labelNames: ['service'], registers: [registry] }).inc({ service: 'routed' });
    const text = await registry.metrics();
    expect(text).toContain('test_things_total{service="routed",app="consensus"} 1');
    expect(text).toMatch(/^process_cpu_user_seconds_total\{app="consensus"\} /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes\{app="consensus"\} /m);
    expect(text).not.toContain('synod_process_');
    expect(text).not.toContain('synod_nodejs_');
    // Prometheus adds `instance` and `job` from the target; a label of the app's own would clash.
    expect(text).not.toMatch(/[{,]instance=/);
  });
});

describe('LabelBound', () => {
  it('keeps a metric at or under its cap of series however many names clients send', async () => {
    const registry = new Registry();
    const bound = new LabelBound(registry, 1000);
    const requests = new Counter({ name: 'test_requests_total', help: 'x', labelNames: ['service'], registers: [registry] });
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 100_000; i++) requests.inc({ service: bound.value('requests', 'service', `svc-${random().toString(36)}`) });
    expect(await seriesOf(registry, 'test_requests_total')).toBeLessThanOrEqual(1000);
    expect(await seriesOf(registry, 'test_requests_total')).toBe(1000);
    const folded = (await registry.getMetricsAsJSON()).find((m) => m.name === 'synod_metrics_label_values_folded_total')!;
    expect(folded.values).toEqual([{ labels: { metric: 'requests', label: 'service' }, value: 100_000 - 999 }]);
    // The sum is kept: nothing counted is lost, only told apart less.
    const total = (await registry.getMetricsAsJSON()).find((m) => m.name === 'test_requests_total')!.values.reduce((n, v) => n + v.value, 0);
    expect(total).toBe(100_000);
  });

  it('keeps known values, passes _unknown through, and bounds each metric and label apart', () => {
    const bound = new LabelBound(new Registry(), 3);
    expect(bound.value('a', 'service', 'x')).toBe('x');
    expect(bound.value('a', 'service', 'y')).toBe('y');
    expect(bound.value('a', 'service', 'z')).toBe(UNKNOWN_LABEL_VALUE);
    expect(bound.value('a', 'service', 'x')).toBe('x');
    expect(bound.value('a', 'service', UNKNOWN_LABEL_VALUE)).toBe(UNKNOWN_LABEL_VALUE);
    expect(bound.value('b', 'service', 'z')).toBe('z');
    expect(bound.value('a', 'worker', 'z')).toBe('z');
  });
});
