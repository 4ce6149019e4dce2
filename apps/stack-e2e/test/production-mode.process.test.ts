import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueClientCertificate, type CertificateAndKey } from '@synod/dev-pki';
import { AppProcess, appScript, startNats, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Closed by default, for every app: SYNOD_ENV=production refuses a development default secret, a
 * NATS password, a development certificate and a NATS connection without a certificate or
 * credentials file (exit 2 naming the variable); development mode accepts them and says so in its
 * log. In either mode a NATS identity file that is missing exits 2 naming its variable.
 */

/** What each app needs besides the common variables to get as far as its configuration check. */
const APPS: Record<string, Record<string, string>> = {
  consensus: { NODE_ID: 'n1', PEERS: 'n1', DATA_DIR: '/tmp/synod-never-used' },
  'lock-manager': {},
  'balancer-gateway': { PORT: '0', HOST: '127.0.0.1' },
  'sample-worker': { WORKER_SERVICE: 'sample' },
};

let dir: string;
/** A client certificate, its key and CA, from the development CA or from one of "your own". */
const certificate: Record<'development' | 'own', Record<string, string>> = { development: {}, own: {} };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'synod-prod-certs-'));
  const write = async (kind: 'development' | 'own', ca: CertificateAndKey) => {
    const pair = await issueClientCertificate(ca, { now: new Date(), validityDays: 2, subject: 'CN=svc,O=Synod' });
    for (const [variable, text] of [['NATS_TLS_CA', ca.cert], ['NATS_TLS_CERT', pair.cert], ['NATS_TLS_KEY', pair.key]] as const) {
      writeFileSync(join(dir, `${kind}-${variable}.pem`), text);
      certificate[kind][variable] = join(dir, `${kind}-${variable}.pem`);
    }
  };
  await write('development', await createCa({ now: new Date(), validityDays: 2 }));
  await write('own', await createCa({ now: new Date(), validityDays: 2, subject: 'CN=Example CA,O=Example' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function exitOf(app: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const r = await AppProcess.runToExit({ script: appScript(app), env: { NATS_URL: 'nats://127.0.0.1:1', ...APPS[app], ...env } });
  return { code: r.code, output: [...r.app.stderr, ...r.app.lines.map((l) => JSON.stringify(l))].join('\n') };
}

describe.each(Object.keys(APPS))('%s in production mode', (app) => {
  it('refuses to start without a client certificate or credentials file, naming NATS_TLS_CERT', async () => {
    const r = await exitOf(app, { SYNOD_ENV: 'production' });
    expect(r.code).toBe(2);
    expect(r.output).toContain('NATS_TLS_CERT: NATS credentials in production');
  });

  it('refuses a NATS password, naming NATS_PASSWORD and never printing it', async () => {
    const r = await exitOf(app, { SYNOD_ENV: 'production', NATS_USER: 'svc', NATS_PASSWORD: `${app}-dev-secret`, ...certificate.own });
    expect(r.code).toBe(2);
    expect(r.output).toContain('NATS_PASSWORD: no NATS password in production');
    expect(r.output).not.toContain(`${app}-dev-secret`);
  });

  it('exits 2 naming a NATS identity file that is missing, in any mode', async () => {
    const r = await exitOf(app, { ...certificate.own, NATS_TLS_KEY: join(dir, 'missing-key.pem') });
    expect(r.code).toBe(2);
    expect(r.output).toContain('NATS_TLS_KEY: expected a PEM file');
    expect(r.output).toContain('cannot read it (ENOENT)');
  });
});

describe('production mode, app by app', () => {
  it('refuses a development certificate and CA, naming both (service-kit checks it for every app)', async () => {
    const r = await exitOf('lock-manager', { SYNOD_ENV: 'production', NATS_USER: 'svc', ...certificate.development });
    expect(r.code).toBe(2);
    expect(r.output).toContain('NATS_TLS_CERT: a certificate of your own in production');
    expect(r.output).toContain('NATS_TLS_CA: a certificate of your own in production');
  });

  it('the gateway refuses an ADMIN_TOKEN that is a development default', async () => {
    const r = await exitOf('balancer-gateway', { SYNOD_ENV: 'production', NATS_USER: 'gateway', ...certificate.own, ADMIN_TOKEN: 'admin-dev-secret-0123' });
    expect(r.code).toBe(2);
    expect(r.output).toContain('ADMIN_TOKEN:');
    expect(r.output).not.toMatch(/NATS_(TLS|PASSWORD)/);
  });

  it('NODE_ENV=production (as the images set it) does not switch production mode on', async () => {
    const r = await exitOf('sample-worker', { NODE_ENV: 'production', SHUTDOWN_TIMEOUT_MS: 'x' });
    // It gets as far as the ordinary configuration check, not the production one.
    expect(r.code).toBe(2);
    expect(r.output).toContain('SHUTDOWN_TIMEOUT_MS');
    expect(r.output).not.toContain('NATS_TLS_CERT');
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
