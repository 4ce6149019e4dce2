import { afterEach, describe, expect, it } from 'vitest';
import { createMetricsRegistry, createRootLogger, startOpsServer, type OpsServer } from '../src/index.js';

let ops: OpsServer | undefined;
afterEach(async () => {
  await ops?.close();
  ops = undefined;
});

const start = () =>
  startOpsServer({
    port: 0,
    host: '127.0.0.1',
    checks: [],
    registry: createMetricsRegistry({ service: 'test', instance: 'test' }),
    log: createRootLogger({ service: 'test', instance: 'test', level: 'silent' }),
  });

describe('the ops server', () => {
  it('lists its routes for the ready line, HEAD routes included', async () => {
    ops = await start();
    expect(ops.info).toEqual({ server: 'ops', port: ops.port, routes: ['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz', 'GET /metrics', 'HEAD /metrics'] });
  });
});
