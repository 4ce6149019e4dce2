import { execFile } from 'node:child_process';
import { AppProcess, appScript, startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { WorkersResponse, type WorkerView } from '@synod/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `synodctl workers`, built, against a real gateway with two sample workers. */
describe('synodctl workers against a gateway', () => {
  let nats: NatsFixture;
  let gateway: string;
  const ns = uniqueNamespace('ctlw');
  const apps: AppProcess[] = [];

  function ctl(...args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      execFile(process.execPath, [appScript('synodctl'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  async function listed(): Promise<WorkerView[]> {
    return WorkersResponse.parse(await (await fetch(`${gateway}/v1/workers`)).json()).workers;
  }

  async function until(check: () => Promise<boolean>): Promise<void> {
    while (!(await check())) await new Promise((r) => setTimeout(r, 20));
  }

  beforeAll(async () => {
    nats = await startNats();
    const env = { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, HEARTBEAT_INTERVAL_MS: '100' };
    const gw = await AppProcess.start({ script: appScript('balancer-gateway'), name: 'gateway', env: { ...env, PORT: '0', HOST: '127.0.0.1' } });
    apps.push(gw.app);
    gateway = `http://127.0.0.1:${String(gw.ready.port)}`;
    for (const worker of [
      { WORKER_ID: 'w-a', WORKER_WEIGHT: '3', WORKER_MAX_CONCURRENCY: '4' },
      { WORKER_ID: 'w-b', WORKER_WEIGHT: '1' },
    ]) {
      apps.push((await AppProcess.start({ script: appScript('sample-worker'), name: worker.WORKER_ID, env: { ...env, ...worker } })).app);
    }
    await until(async () => (await listed()).length === 2);
    // Weighted 3:1, so 8 requests in a row land 6 and 2.
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${gateway}/v1/services/sample/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"message":"x"}' });
      expect(res.status).toBe(200);
    }
    // A heartbeat after the jobs carries each worker's own EWMA.
    await until(async () => (await listed()).every((w) => w.reported.ewmaMs !== undefined));
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop(5000)));
    await nats?.stop();
  });

  it('--json: the workers per service with weight, in-flight, counts and the reported EWMA', async () => {
    const r = await ctl('workers', '--gateway', gateway, '--json');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = JSON.parse(r.stdout) as { gateway: string; services: { service: string; workers: WorkerView[] }[] };
    expect(out.gateway).toBe(gateway);
    expect(out.services.map((s) => s.service)).toEqual(['sample']);
    const [a, b] = out.services[0]!.workers;
    expect(a).toMatchObject({ id: 'w-a', version: '0.1.0', weight: 3, inFlight: 0, served: 6, errors: 0 });
    expect(b).toMatchObject({ id: 'w-b', version: '0.1.0', weight: 1, inFlight: 0, served: 2, errors: 0 });
    for (const w of [a!, b!]) expect(w.reported.ewmaMs).toBeGreaterThanOrEqual(0);
  });

  it('prints one block per service with a row per worker', async () => {
    const r = await ctl('workers', '--gateway', `${gateway}/`);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^sample( \([\w-]+\))?: 2 workers$/);
    expect(lines[1]).toMatch(/^ {2}ID +VERSION +WEIGHT +IN_FLIGHT +SERVED +ERRORS +EWMA_MS +WORKER_MS +HEARTBEAT +STATE$/);
    expect(lines[2]).toMatch(/^ {2}w-a +0\.1\.0 +3 +0(\/4)? +6 +0 +\S+ +\d+\.\d+ +\d+\.\ds ago +ok$/);
    expect(lines[3]).toMatch(/^ {2}w-b +0\.1\.0 +1 +0 +2 +0 +\S+ +\d+\.\d+ +\d+\.\ds ago +ok$/);
  });

  it('gateway stats, strategy and weight go to every gateway process over the bus', async () => {
    const bus = ['--nats', nats.url, '--namespace', ns];
    const stats = await ctl('gateway', 'stats', ...bus, '--json');
    expect(stats).toMatchObject({ code: 0, stderr: '' });
    const gateways = (JSON.parse(stats.stdout) as { gateways: { process: number; workers: WorkerView[]; services: { service: string; strategy: string }[] }[] }).gateways;
    expect(gateways.map((g) => g.process)).toEqual([1]);
    expect(gateways[0]!.workers.map((w) => w.id).sort()).toEqual(['w-a', 'w-b']);
    const human = await ctl('gateway', 'stats', ...bus, '--service', 'sample', '--wait', '300');
    expect(human.stdout).toMatch(/^gateway \S+ process 1 \(pending 0, peak \d+\)$/m);
    expect(human.stdout).toMatch(/^ {2}sample +weighted +2 +0 +/m);

    const strategyOf = async () => ((await (await fetch(`${gateway}/v1/services`)).json()) as { services: { service: string; strategy: string }[] }).services[0]!.strategy;
    const set = await ctl('gateway', 'strategy', 'sample', 'p2c-ewma', ...bus, '--json');
    expect(set.code).toBe(0);
    expect((JSON.parse(set.stdout) as { applied: { ok: boolean; state: { strategy: string } }[] }).applied).toMatchObject([{ ok: true, state: { strategy: 'p2c-ewma' } }]);
    expect(await strategyOf()).toBe('p2c-ewma');
    expect((await ctl('gateway', 'strategy', 'sample', 'clear', ...bus, '--wait', '300')).code).toBe(0);
    expect(await strategyOf()).toBe('weighted');
    expect((await ctl('gateway', 'weight', 'w-b', '0', ...bus, '--wait', '300')).code).toBe(0);
    expect((await listed()).find((w) => w.id === 'w-b')?.weight).toBe(0);
    expect((await ctl('gateway', 'weight', 'w-b', 'clear', ...bus, '--wait', '300')).code).toBe(0);

    const ghost = await ctl('gateway', 'strategy', 'ghost', 'random', ...bus);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toMatch(/NOT_FOUND/);
    expect((await ctl('gateway', 'weight', 'w-a', 'heavy', ...bus)).code).toBe(2);
  });

  it('a gateway that is not there fails with one line and exit 1', async () => {
    const r = await ctl('workers', '--gateway', 'http://127.0.0.1:1', '--timeout', '2000');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: UNAVAILABLE: cannot reach the gateway/);
  });
});
