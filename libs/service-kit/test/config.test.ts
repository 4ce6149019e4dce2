import { describe, expect, it } from 'vitest';
import { commonEnv, env, formatConfigIssues, parseConfig, productionIssues } from '../src/index.js';

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
  const parse = (source: Record<string, string>) => {
    const r = parseConfig({ ...commonEnv, ADMIN_TOKEN: env.string() }, source);
    if (!r.ok) throw new Error(formatConfigIssues(r.issues));
    return r.config;
  };

  it('accepts development defaults and no credentials outside production mode', () => {
    expect(productionIssues(parse({}))).toEqual([]);
    expect(productionIssues(parse({ NATS_USER: 'gateway', NATS_PASSWORD: 'gateway-dev-secret' }))).toEqual([]);
  });

  it('refuses a NATS connection without credentials, naming the variable', () => {
    const issues = productionIssues(parse({ SYNOD_ENV: 'production' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ variable: 'NATS_USER', expected: expect.stringContaining('NATS credentials') });
    expect(productionIssues(parse({ SYNOD_ENV: 'production' }), ['NATS_CREDS', 'NATS_USER'])[0]!.expected).toContain('NATS_CREDS or NATS_USER');
  });

  it('refuses every secret that holds a development default, and redacts it', () => {
    const issues = productionIssues(parse({ SYNOD_ENV: 'production', NATS_USER: 'gateway', NATS_PASSWORD: 'gateway-dev-secret', ADMIN_TOKEN: 'my-DEV-SECRET-token' }));
    expect(issues.map((i) => i.variable).sort()).toEqual(['ADMIN_TOKEN', 'NATS_PASSWORD']);
    for (const i of issues) expect(i.received).toBe('<redacted>');
    expect(formatConfigIssues(issues)).not.toContain('gateway-dev-secret');
  });

  it('accepts real credentials', () => {
    expect(productionIssues(parse({ SYNOD_ENV: 'production', NATS_USER: 'gateway', NATS_PASSWORD: 'x7Vq-0b1c2d3e4f5a6b7c8' }))).toEqual([]);
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
