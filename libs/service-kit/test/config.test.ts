import { describe, expect, it } from 'vitest';
import { commonEnv, env, formatConfigIssues, parseConfig } from '../src/index.js';

describe('parseConfig', () => {
  it('applies defaults for the common variables', () => {
    const r = parseConfig(commonEnv, {});
    expect(r).toEqual({
      ok: true,
      config: { NATS_URL: ['nats://127.0.0.1:4222'], SYNOD_NAMESPACE: 'synod', HTTP_PORT: undefined, LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: 15_000 },
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
