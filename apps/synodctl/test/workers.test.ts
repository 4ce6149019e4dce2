import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkerView } from '@synod/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/cli.js';
import { gatewayBase } from '../src/commands/workers.js';
import { formatWorkers, groupByService } from '../src/commands/workers-format.js';

const NOW = Date.parse('2026-01-01T12:00:00.000Z');

function view(id: string, service: string, extra: Partial<WorkerView> = {}): WorkerView {
  return {
    id,
    service,
    weight: 1,
    endpoints: ['echo'],
    lastHeartbeat: new Date(NOW - 400).toISOString(),
    lastHeartbeatAgeMs: 400,
    inFlight: 0,
    served: 0,
    errors: 0,
    reported: { inFlight: 0, served: 0, errors: 0 },
    ...extra,
  };
}

const workers: WorkerView[] = [
  view('b', 'sample', { weight: 1, served: 10, errors: 1, ewmaMs: 2.345, reported: { inFlight: 0, served: 11, errors: 1, ewmaMs: 1.5 }, strategy: 'p2c-ewma' }),
  view('a', 'sample', {
    version: '0.1.0',
    weight: 5,
    reportedWeight: 1,
    weightOverride: 5,
    inFlight: 3,
    maxConcurrency: 8,
    served: 120,
    ewmaMs: 140.2,
    strategy: 'p2c-ewma',
  }),
  view('x', 'billing', { ejected: true, ejectedUntil: new Date(NOW + 2500).toISOString(), ejections: 2, ewmaMs: 31.25 }),
  view('y', 'billing', { slowStartFactor: 0.4 }),
];

describe('synodctl workers: output', () => {
  it('groups workers by service, both sorted by name', () => {
    const groups = groupByService(workers);
    expect(groups.map((g) => [g.service, g.strategy, g.workers.map((w) => w.id)])).toEqual([
      ['billing', undefined, ['x', 'y']],
      ['sample', 'p2c-ewma', ['a', 'b']],
    ]);
  });

  it('prints weight, in-flight against the limit, both EWMAs and the state; absent fields as -', () => {
    expect(formatWorkers(groupByService(workers), NOW)).toBe(
      [
        'billing: 2 workers',
        '  ID  VERSION  WEIGHT  IN_FLIGHT  SERVED  ERRORS  EWMA_MS  WORKER_MS  HEARTBEAT  STATE',
        '  x   -        1       0          0       0       31.3     -          0.4s ago   ejected (2.5s left, ejection 2)',
        '  y   -        1       0          0       0       -        -          0.4s ago   slow start 40%',
        '',
        'sample (p2c-ewma): 2 workers',
        '  ID  VERSION  WEIGHT              IN_FLIGHT  SERVED  ERRORS  EWMA_MS  WORKER_MS  HEARTBEAT  STATE',
        '  a   0.1.0    5 (set; reports 1)  3/8        120     0       140      -          0.4s ago   ok',
        '  b   -        1                   0          10      1       2.35     1.50       0.4s ago   ok',
      ].join('\n'),
    );
    expect(formatWorkers([], NOW)).toBe('(no workers)');
  });

  it('takes http(s) gateway URLs only', () => {
    expect(gatewayBase('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(gatewayBase('https://gw.example/prefix/')).toBe('https://gw.example/prefix');
    expect(() => gatewayBase('nats://x:4222')).toThrow(/http/);
    expect(() => gatewayBase('not a url')).toThrow(/not a URL/);
  });
});

describe('synodctl workers: against an HTTP server', () => {
  let server: Server;
  let base: string;
  let answer: { status: number; body: string } = { status: 200, body: JSON.stringify({ workers }) };

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== '/v1/workers') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function ctl(argv: string[], env: Record<string, string> = {}) {
    vi.stubEnv('SYNOD_GATEWAY_URL', undefined);
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    let stdout = '';
    let stderr = '';
    const code = await runCli(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), onInterrupt: () => () => undefined });
    vi.unstubAllEnvs();
    return { code, stdout, stderr };
  }

  it('prints the table, or the services as JSON with --json', async () => {
    answer = { status: 200, body: JSON.stringify({ workers }) };
    const human = await ctl(['workers', '--gateway', base]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^billing: 2 workers\n/);
    expect(human.stdout).toContain('sample (p2c-ewma): 2 workers');
    const json = await ctl(['workers', '--json'], { SYNOD_GATEWAY_URL: base });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { gateway: string; services: { service: string; workers: WorkerView[] }[] };
    expect(parsed.gateway).toBe(base);
    expect(parsed.services.map((s) => [s.service, s.workers.map((w) => w.id)])).toEqual([
      ['billing', ['x', 'y']],
      ['sample', ['a', 'b']],
    ]);
    expect(parsed.services[0]?.workers[0]).toMatchObject({ ejected: true, ejections: 2 });
    const boxed = await ctl(['workers', '--gateway', base, '-w', 'table']);
    expect(boxed.stdout.split('\n')[1]).toMatch(/^\| SERVICE +\| STRATEGY +\| ID +\| VERSION +\| WEIGHT +\| IN_FLIGHT .*\| STATE +\|$/);
    expect(boxed.stdout.split('\n').filter((l) => /^\| (billing|sample) /.test(l))).toHaveLength(4);
  });

  it('fails with one line: the gateway error, a body that is not a worker list, an unreachable gateway, a bad URL', async () => {
    answer = { status: 503, body: JSON.stringify({ error: { code: 'SHUTTING_DOWN', message: 'draining', retryable: true } }) };
    expect(await ctl(['workers', '--gateway', base])).toEqual({ code: 1, stdout: '', stderr: 'error: SHUTTING_DOWN: draining\n' });
    answer = { status: 200, body: JSON.stringify({ workers: [{ id: 1 }] }) };
    const bad = await ctl(['workers', '--gateway', base]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: BAD_GATEWAY: GET .*\/v1\/workers did not answer a worker list/);
    answer = { status: 200, body: '<html>' };
    expect((await ctl(['workers', '--gateway', base])).stderr).toMatch(/^error: BAD_GATEWAY: .*not JSON/);
    const down = await ctl(['workers', '--gateway', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: UNAVAILABLE: cannot reach the gateway at http:\/\/127\.0\.0\.1:1/);
    const usage = await ctl(['workers', '--gateway', 'ftp://x']);
    expect(usage).toMatchObject({ code: 2, stdout: '' });
    expect(usage.stderr).toMatch(/^error: USAGE: /);
  });
});
