import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueClientCertificate, type CertificateAndKey } from '@synod/dev-pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commonEnv, env, formatConfigIssues, natsAuthIssues, parseConfig, productionIssues } from '../src/index.js';

describe('parseConfig', () => {
  it('applies defaults for the common variables', () => {
    const r = parseConfig(commonEnv, {});
    expect(r).toEqual({
      ok: true,
      config: {
        SYNOD_ENV: 'development',
        NATS_URL: ['nats://127.0.0.1:4222'],
        SYNOD_NAMESPACE: 'synod',
        HTTP_PORT: undefined,
        LOG_LEVEL: 'info',
        SHUTDOWN_TIMEOUT_MS: 15_000,
        DROP_LOG_INTERVAL_MS: 10_000,
      },
    });
  });

  it('treats empty variables as unset and splits NATS_URL lists', () => {
    const r = parseConfig(commonEnv, { NATS_URL: 'nats://a:4222, nats://b:4222', HTTP_PORT: '', SYNOD_NAMESPACE: '' });
    expect(r.ok && r.config.NATS_URL).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(r.ok && r.config.HTTP_PORT).toBeUndefined();
    expect(r.ok && r.config.SYNOD_NAMESPACE).toBe('synod');
  });

  it.each([
    ['HTTP_PORT', 'abc', 'expected an integer from 0 to 65535'],
    ['HTTP_PORT', '70000', 'expected an integer from 0 to 65535'],
    ['HTTP_PORT', '1.5', 'expected an integer from 0 to 65535'],
    ['SYNOD_NAMESPACE', 'a.*', 'expected a namespace'],
    ['SYNOD_NAMESPACE', 'has space', 'expected a namespace'],
    ['LOG_LEVEL', 'loud', 'expected one of fatal, error, warn, info, debug, trace, silent'],
    ['NATS_URL', 'http://x:1', 'expected comma-separated NATS URLs'],
    ['SHUTDOWN_TIMEOUT_MS', '5', 'expected an integer from 100 to 600000'],
    ['SYNOD_ENV', 'staging', 'expected one of development, production'],
  ])('names %s=%s and what was expected', (variable, value, expected) => {
    const r = parseConfig(commonEnv, { [variable]: value });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.variable).toBe(variable);
    expect(r.issues[0]!.expected).toContain(expected);
    expect(r.issues[0]!.received).toBe(value);
    expect(formatConfigIssues(r.issues)).toContain(`${variable}: ${r.issues[0]!.expected}, got ${JSON.stringify(value)}`);
  });

  it('reports every bad variable at once and redacts secrets', () => {
    const r = parseConfig({ ...commonEnv, API_TOKEN: env.int({ default: 1 }) }, { HTTP_PORT: '-1', API_TOKEN: 'sekrit' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.variable).sort()).toEqual(['API_TOKEN', 'HTTP_PORT']);
    expect(r.issues.find((i) => i.variable === 'API_TOKEN')!.received).toBe('<redacted>');
  });

  it('parses the helpers', () => {
    const shape = {
      A: env.int({ min: 1, max: 10, default: 3 }),
      B: env.oneOf(['x', 'y'] as const, 'x'),
      C: env.string({ default: 'd', pattern: /^[a-z]+$/ }),
      D: env.optionalPort(),
    };
    expect(parseConfig(shape, {})).toEqual({ ok: true, config: { A: 3, B: 'x', C: 'd', D: undefined } });
    expect(parseConfig(shape, { A: ' 7 ', B: 'y', C: 'abc', D: '0' })).toEqual({ ok: true, config: { A: 7, B: 'y', C: 'abc', D: 0 } });
    expect(parseConfig(shape, { C: 'ABC' }).ok).toBe(false);
  });
});

describe('production mode (SYNOD_ENV=production)', () => {
  let dir: string;
  let dev: { ca: string; cert: string; key: string };
  let own: { ca: string; cert: string; key: string };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'synod-prod-'));
    const write = async (name: string, ca: CertificateAndKey) => {
      const pair = await issueClientCertificate(ca, { now: new Date(), validityDays: 30, subject: 'CN=gateway,O=Synod' });
      const paths = { ca: join(dir, `${name}-ca.pem`), cert: join(dir, `${name}-cert.pem`), key: join(dir, `${name}-key.pem`) };
      writeFileSync(paths.ca, ca.cert);
      writeFileSync(paths.cert, pair.cert);
      writeFileSync(paths.key, pair.key);
      return paths;
    };
    dev = await write('dev', await createCa({ now: new Date(), validityDays: 30 }));
    own = await write('own', await createCa({ now: new Date(), validityDays: 30, subject: 'CN=Example CA,O=Example' }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const parse = (source: Record<string, string>) => {
    const r = parseConfig({ ...commonEnv, ADMIN_TOKEN: env.string() }, source);
    if (!r.ok) throw new Error(formatConfigIssues(r.issues));
    return r.config;
  };
  const withCert = (c: typeof own) => ({ NATS_TLS_CA: c.ca, NATS_TLS_CERT: c.cert, NATS_TLS_KEY: c.key });

  it('accepts development defaults, passwords and no credentials outside production mode', () => {
    expect(productionIssues(parse({}))).toEqual([]);
    expect(productionIssues(parse({ NATS_USER: 'gateway', NATS_PASSWORD: 'gateway-dev-secret' }))).toEqual([]);
    expect(productionIssues(parse(withCert(dev)))).toEqual([]);
  });

  it('refuses a NATS connection without a certificate or credentials file, naming NATS_TLS_CERT', () => {
    const issues = productionIssues(parse({ SYNOD_ENV: 'production' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ variable: 'NATS_TLS_CERT', expected: expect.stringContaining('NATS credentials in production') });
    expect(issues[0]!.expected).toContain('NATS_CREDS');
  });

  it('refuses a NATS password, even a real one, and never prints it', () => {
    const issues = productionIssues(parse({ SYNOD_ENV: 'production', NATS_USER: 'gateway', NATS_PASSWORD: 'x7Vq-0b1c2d3e4f5a6b7c8', ...withCert(own) }));
    expect(issues).toEqual([{ variable: 'NATS_PASSWORD', expected: expect.stringContaining('no NATS password in production'), received: '<redacted>' }]);
  });

  it('refuses every secret that holds a development default, and redacts it', () => {
    const issues = productionIssues(parse({ SYNOD_ENV: 'production', NATS_USER: 'gateway', NATS_PASSWORD: 'gateway-dev-secret', ADMIN_TOKEN: 'my-DEV-SECRET-token', ...withCert(own) }));
    expect(issues.map((i) => i.variable).sort()).toEqual(['ADMIN_TOKEN', 'NATS_PASSWORD']);
    for (const i of issues) expect(i.received).toBe('<redacted>');
    expect(formatConfigIssues(issues)).not.toContain('gateway-dev-secret');
  });

  it('refuses a certificate and a CA of the development PKI, naming each', () => {
    const issues = productionIssues(parse({ SYNOD_ENV: 'production', NATS_USER: 'gateway', ...withCert(dev) }));
    expect(issues.map((i) => i.variable).sort()).toEqual(['NATS_TLS_CA', 'NATS_TLS_CERT']);
    expect(issues[0]!.expected).toContain('from the development CA');
  });

  it('accepts a certificate of its own, and a credentials file', () => {
    expect(productionIssues(parse({ SYNOD_ENV: 'production', NATS_USER: 'gateway', ...withCert(own) }))).toEqual([]);
    const creds = join(dir, 'user.creds');
    writeFileSync(creds, '-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\nSU\n------END USER NKEY SEED------\n');
    expect(productionIssues(parse({ SYNOD_ENV: 'production', NATS_CREDS: creds }))).toEqual([]);
  });

  describe('the NATS identity files', () => {
    it('names a missing or unreadable file by its variable', () => {
      for (const variable of ['NATS_TLS_CA', 'NATS_TLS_CERT', 'NATS_TLS_KEY', 'NATS_CREDS']) {
        const r = parseConfig(commonEnv, { [variable]: join(dir, 'missing.pem') });
        expect(r.ok).toBe(false);
        if (r.ok) continue;
        expect(r.issues[0]).toMatchObject({ variable, expected: expect.stringContaining('cannot read it (ENOENT)') });
      }
      const r = parseConfig(commonEnv, { NATS_TLS_CA: dir });
      expect(!r.ok && r.issues[0]!.expected).toContain('cannot read it (EISDIR)');
    });

    it('checks what the files hold: a certificate with its own key, both or neither, a CA, a credentials file', () => {
      const issues = (source: Record<string, string>) => natsAuthIssues(parse(source)).map((i) => `${i.variable}: ${i.expected}`);
      expect(issues(withCert(own))).toEqual([]);
      expect(issues({ NATS_TLS_CERT: own.cert })).toEqual([expect.stringMatching(/^NATS_TLS_KEY: .*needs both/)]);
      expect(issues({ NATS_TLS_KEY: own.key })).toEqual([expect.stringMatching(/^NATS_TLS_CERT: .*needs both/)]);
      expect(issues({ NATS_TLS_CERT: own.cert, NATS_TLS_KEY: dev.key })).toEqual([expect.stringMatching(/^NATS_TLS_KEY: .*another certificate/)]);
      const garbage = join(dir, 'garbage.pem');
      writeFileSync(garbage, 'not a pem');
      expect(issues({ NATS_TLS_CERT: garbage, NATS_TLS_KEY: garbage, NATS_TLS_CA: garbage, NATS_CREDS: garbage })).toEqual([
        expect.stringMatching(/^NATS_TLS_CERT: expected a PEM certificate/),
        expect.stringMatching(/^NATS_TLS_KEY: expected a PEM private key/),
        expect.stringMatching(/^NATS_TLS_CA: expected PEM CA certificates/),
        expect.stringMatching(/^NATS_CREDS: expected a NATS credentials file/),
      ]);
    });
  });
});

describe('env.bool', () => {
  const shape = { FLAG: env.bool(true), OFF: env.bool(false) };
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['No', false],
  ])('reads %s as %s', (raw, want) => {
    const r = parseConfig(shape, { FLAG: raw });
    expect(r.ok && r.config.FLAG).toBe(want);
  });

  it('defaults when unset or empty, and names the variable on anything else', () => {
    const r = parseConfig(shape, { FLAG: '' });
    expect(r.ok && r.config).toEqual({ FLAG: true, OFF: false });
    const bad = parseConfig(shape, { OFF: 'maybe' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0]).toMatchObject({ variable: 'OFF', expected: 'expected true or false' });
  });
});
