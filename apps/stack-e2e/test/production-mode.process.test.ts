import { AppProcess, appScript, startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Closed by default, for every app: SYNOD_ENV=production refuses a development default secret and
 * a NATS connection without credentials (exit 2 naming the variable); development mode accepts both
 * and says so in its log.
 */

/** What each app needs besides the common variables to get as far as its configuration check. */
const APPS: Record<string, Record<string, string>> = {
  consensus: { NODE_ID: 'n1', PEERS: 'n1', DATA_DIR: '/tmp/synod-never-used' },
  'lock-manager': {},
  'balancer-gateway': { PORT: '0', HOST: '127.0.0.1' },
  'sample-worker': { WORKER_SERVICE: 'sample' },
};

async function exitOf(app: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const r = await AppProcess.runToExit({ script: appScript(app), env: { NATS_URL: 'nats://127.0.0.1:1', ...APPS[app], ...env } });
  return { code: r.code, output: [...r.app.stderr, ...r.app.lines.map((l) => JSON.stringify(l))].join('\n') };
}

describe.each(Object.keys(APPS))('%s in production mode', (app) => {
  it('refuses to start without NATS credentials, naming NATS_USER', async () => {
    const r = await exitOf(app, { SYNOD_ENV: 'production' });
    expect(r.code).toBe(2);
    expect(r.output).toContain('NATS_USER: NATS credentials in production');
  });

  it('refuses a development default password, naming NATS_PASSWORD and never printing it', async () => {
    const r = await exitOf(app, { SYNOD_ENV: 'production', NATS_USER: 'svc', NATS_PASSWORD: `${app}-dev-secret` });
    expect(r.code).toBe(2);
    expect(r.output).toContain('NATS_PASSWORD: a secret of your own in production');
    expect(r.output).not.toContain(`${app}-dev-secret`);
  });
});

describe('production mode, app by app', () => {
  it('the gateway refuses an ADMIN_TOKEN that is a development default', async () => {
    const r = await exitOf('balancer-gateway', { SYNOD_ENV: 'production', NATS_USER: 'gateway', NATS_PASSWORD: 'p-4c3b2a1f0e9d8c7b', ADMIN_TOKEN: 'admin-dev-secret-0123' });
    expect(r.code).toBe(2);
    expect(r.output).toContain('ADMIN_TOKEN:');
    expect(r.output).not.toContain('NATS_PASSWORD:');
  });

  it('NODE_ENV=production (as the images set it) does not switch production mode on', async () => {
    const r = await exitOf('sample-worker', { NODE_ENV: 'production', SHUTDOWN_TIMEOUT_MS: 'x' });
    // It gets as far as the ordinary configuration check, not the production one.
    expect(r.code).toBe(2);
    expect(r.output).toContain('SHUTDOWN_TIMEOUT_MS');
    expect(r.output).not.toContain('NATS_USER');
  });
});

describe('development mode', () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('starts with no credentials and says in its log what it accepts', async () => {
    const { app, ready } = await AppProcess.start({
      script: appScript('sample-worker'),
      env: { NATS_URL: nats.url, SYNOD_NAMESPACE: uniqueNamespace('dev'), WORKER_SERVICE: 'sample', NODE_ENV: 'production' },
    });
    try {
      expect(ready.env).toBe('development');
      const warn = app.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('development mode'));
      expect(warn).toMatchObject({ level: 40, env: 'development', natsAuthenticated: false });
    } finally {
      await app.stop(5000);
    }
  });
});
