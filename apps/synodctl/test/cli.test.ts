import { SynodError } from '@synod/protocol';
import { StoreClient } from '@synod/store-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildProgram, runCli, VERSION } from '../src/cli.js';
import type { CliIo, GlobalOptions } from '../src/context.js';

/** An io that writes nowhere. */
const io = (): CliIo => ({ stdout: () => undefined, stderr: () => undefined, onInterrupt: () => () => undefined });

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  sent: { subject: string; body: Record<string, unknown> }[];
  globals: GlobalOptions | undefined;
}

/**
 * Runs the CLI against a fake store: `answer` gets each request and returns its result or throws.
 * `env` is set for the run (commander reads process.env); the CLI's own variables are cleared first.
 */
async function run(argv: string[], answer: (body: Record<string, unknown>) => unknown = () => undefined, env: Record<string, string> = {}): Promise<Run> {
  for (const name of CLI_ENV) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  let stdout = '';
  let stderr = '';
  const sent: Run['sent'] = [];
  let globals: GlobalOptions | undefined;
  const io: CliIo = {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    onInterrupt: () => () => undefined,
    storeClient: (opts) => {
      globals = opts;
      return new StoreClient({
        namespace: opts.namespace,
        timeoutMs: opts.timeout,
        request: async (subject, body) => {
          sent.push({ subject, body: body as Record<string, unknown> });
          return answer(body as Record<string, unknown>);
        },
      });
    },
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr, sent, globals };
}

const CLI_ENV = ['NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'NATS_TLS_CA', 'NATS_TLS_CERT', 'NATS_TLS_KEY', 'NATS_CREDS', 'SYNOD_NAMESPACE', 'SYNODCTL_TIMEOUT_MS', 'SYNODCTL_WRITE_OUT', 'SYNODCTL_JSON', 'SYNOD_GATEWAY_URL'];

afterEach(() => void vi.unstubAllEnvs());

const kv = (key: string, value: string, rev: number) => ({ key, value, createRevision: rev, modRevision: rev, version: 1, lease: 0 });

describe('synodctl command lines', () => {
  it('takes global options before or after the command, with env defaults', async () => {
    const answer = () => ({ revision: 2, kvs: [kv('a', '1', 2)], count: 1, more: false });
    const a = await run(['--namespace', 'team.x', '--timeout', '750', 'kv', 'get', 'a'], answer);
    expect(a.globals).toEqual({ nats: 'nats://127.0.0.1:4222', namespace: 'team.x', timeout: 750, output: 'simple' });
    expect(a.sent[0]?.subject).toBe('team.x.kv.leader');
    const b = await run(['kv', 'get', 'a', '--json', '--nats', 'nats://h:1'], answer, { NATS_URL: 'nats://env:4222', SYNOD_NAMESPACE: 'envns' });
    expect(b.globals).toEqual({ nats: 'nats://h:1', namespace: 'envns', timeout: 5000, output: 'json' });
    const c = await run(['kv', 'get', 'a'], answer, { NATS_URL: 'nats://env:4222' });
    expect(c.globals?.nats).toBe('nats://env:4222');
  });

  it('takes the NATS identity files from flags or env, and refuses a missing one before connecting (exit 2, naming it)', async () => {
    const answer = () => ({ revision: 2, kvs: [], count: 0, more: false });
    const missing = await run(['kv', 'get', 'a'], answer, { NATS_TLS_CERT: '/nonexistent/cert.pem', NATS_TLS_KEY: '/nonexistent/key.pem' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: USAGE: NATS_TLS_CERT \(--tls-cert\): .*cannot read it \(ENOENT\)/);
    expect(missing.stderr).toContain('NATS_TLS_KEY (--tls-key)');
    expect(missing.sent).toEqual([]);
    const flag = await run(['kv', 'get', 'a', '--creds', '/nonexistent/user.creds'], answer);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/NATS_CREDS \(--creds\): .*ENOENT/);
    const ca = await run(['kv', 'get', 'a', '--tls-ca', import.meta.filename], answer);
    expect(ca.code).toBe(2);
    expect(ca.stderr).toMatch(/NATS_TLS_CA \(--tls-ca\): expected PEM CA certificates/);
  });

  it('takes every global option from its environment variable; the command line wins', async () => {
    const answer = () => ({ revision: 2, kvs: [kv('a', '1', 2)], count: 1, more: false });
    const env = { NATS_URL: 'nats://e:1', NATS_USER: 'ops', NATS_PASSWORD: 'pw', SYNOD_NAMESPACE: 'envns', SYNODCTL_TIMEOUT_MS: '1234', SYNODCTL_WRITE_OUT: 'table' };
    const fromEnv = await run(['kv', 'get', 'a'], answer, env);
    expect(fromEnv.globals).toEqual({ nats: 'nats://e:1', user: 'ops', password: 'pw', namespace: 'envns', timeout: 1234, output: 'table' });
    const flags = ['--nats', 'nats://f:2', '--user', 'me', '--password', 'x', '--namespace', 'flagns', '--timeout', '99', '-w', 'json'];
    expect((await run(['kv', 'get', 'a', ...flags], answer, env)).globals).toEqual({ nats: 'nats://f:2', user: 'me', password: 'x', namespace: 'flagns', timeout: 99, output: 'json' });
    // --json is -w json; its variable takes 1/true/0/false, and the command line still wins over it.
    expect((await run(['kv', 'get', 'a'], answer, { SYNODCTL_JSON: 'true' })).globals?.output).toBe('json');
    expect((await run(['kv', 'get', 'a'], answer, { SYNODCTL_JSON: '0' })).globals?.output).toBe('simple');
    expect((await run(['kv', 'get', 'a', '-w', 'table'], answer, { SYNODCTL_JSON: '1' })).globals?.output).toBe('table');
    expect((await run(['kv', 'get', 'a', '--json'], answer, { SYNODCTL_WRITE_OUT: 'table' })).globals?.output).toBe('json');
    expect((await run(['kv', 'get', 'a', '--json', '-w', 'json'], answer)).globals?.output).toBe('json');
  });

  it.each([
    [{ SYNODCTL_TIMEOUT_MS: 'soon' }, /^error: USAGE: option '--timeout <ms>' value 'soon' from env 'SYNODCTL_TIMEOUT_MS' is invalid/],
    [{ SYNODCTL_WRITE_OUT: 'yaml' }, /^error: USAGE: option '-w, --write-out <format>' value 'yaml' from env 'SYNODCTL_WRITE_OUT' is invalid/],
    [{ SYNODCTL_JSON: 'yes' }, /^error: USAGE: SYNODCTL_JSON="yes": expected 1, true, 0 or false/],
    [{ SYNODCTL_JSON: '1', SYNODCTL_WRITE_OUT: 'table' }, /^error: USAGE: SYNODCTL_JSON and SYNODCTL_WRITE_OUT disagree/],
    [{ SYNOD_NAMESPACE: 'a b' }, /^error: USAGE: --namespace "a b" is not a namespace/],
  ])('a bad variable %j is a usage error naming it', async (env, message) => {
    const r = await run(['kv', 'get', 'a'], () => ({ revision: 2, kvs: [], count: 0, more: false }), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a NATS_URL with no server is a usage error naming it, before any connection', async () => {
    vi.stubEnv('NATS_URL', ' , ');
    let stderr = '';
    const code = await runCli(['kv', 'get', 'a'], { ...io(), stderr: (s) => void (stderr += s), connect: () => Promise.reject(new Error('must not connect')) });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: USAGE: --nats \(env NATS_URL\) needs at least one server URL/);
  });

  it('-w table draws boxed tables; -w json and --json print the result', async () => {
    const answer = (body: Record<string, unknown>) =>
      body.type === 'range' ? { revision: 3, kvs: [kv('a', '1', 2), kv('bb', 'two', 3)], count: 2, more: false } : { op: 'put', revision: 4 };
    const t = await run(['kv', 'get', '', '--prefix', '-w', 'table'], answer);
    expect(t.stdout).toBe(
      [
        '+-----+-------+-----------------+--------------+---------+-------+',
        '| KEY | VALUE | CREATE_REVISION | MOD_REVISION | VERSION | LEASE |',
        '+-----+-------+-----------------+--------------+---------+-------+',
        '| a   | 1     | 2               | 2            | 1       | 0     |',
        '| bb  | two   | 3               | 3            | 1       | 0     |',
        '+-----+-------+-----------------+--------------+---------+-------+',
        '',
      ].join('\n'),
    );
    // A command without a table of its own: one row of its result's fields.
    expect((await run(['kv', 'put', 'a', '1', '--write-out', 'table'], answer)).stdout).toBe('+----------+\n| REVISION |\n+----------+\n| 4        |\n+----------+\n');
    const json = await run(['kv', 'get', 'a', '-w', 'json'], answer);
    expect(json.stdout).toBe((await run(['kv', 'get', 'a', '--json'], answer)).stdout);
    expect(JSON.parse(json.stdout)).toMatchObject({ revision: 3, count: 2 });
  });

  it('kv get --print-value-only prints the values alone, one per line', async () => {
    const answer = () => ({ revision: 3, kvs: [kv('a', '1', 2), kv('b', 'two words', 3)], count: 2, more: false });
    expect(await run(['kv', 'get', '', '--prefix', '--print-value-only'], answer)).toMatchObject({ code: 0, stdout: '1\ntwo words\n', stderr: '' });
    const clash = await run(['kv', 'get', 'a', '--print-value-only', '--keys-only'], answer);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/^error: USAGE: option '--keys-only' cannot be used with option '--print-value-only'/);
  });

  it('kv get: human and JSON output; a missing key prints nothing', async () => {
    const answer = (body: Record<string, unknown>) =>
      (body.request as { key: string }).key === 'a' ? { revision: 2, kvs: [kv('a', '1', 2)], count: 1, more: false } : { revision: 2, kvs: [], count: 0, more: false };
    expect(await run(['kv', 'get', 'a'], answer)).toMatchObject({ code: 0, stdout: 'a\n1\n', stderr: '' });
    const json = await run(['kv', 'get', 'a', '--json'], answer);
    expect(JSON.parse(json.stdout)).toEqual({ revision: 2, kvs: [kv('a', '1', 2)], count: 1, more: false });
    expect(await run(['kv', 'get', 'b'], answer)).toMatchObject({ code: 0, stdout: '' });
  });

  it('kv get passes its read options', async () => {
    const r = await run(['kv', 'get', 'p/', '--prefix', '--revision', '5', '--consistency', 'stale', '--limit', '2', '--keys-only'], () => ({ revision: 5, kvs: [], count: 0, more: false }));
    expect(r.sent[0]).toEqual({ subject: 'synod.kv.any', body: { type: 'range', consistency: 'stale', request: { key: 'p/', prefix: true, revision: 5, limit: 2, keysOnly: true } } });
  });

  it('kv range sorts and notes a cut-off answer on stderr', async () => {
    const r = await run(['kv', 'range', 'p/', '--sort', 'createRevision', '--order', 'desc', '--limit', '1'], () => ({ revision: 5, kvs: [kv('p/b', '2', 4)], count: 2, more: true }));
    expect(r.sent[0]?.body.request).toEqual({ key: 'p/', prefix: true, limit: 1, sortBy: 'createRevision', order: 'desc' });
    expect(r.stdout).toBe('p/b\n2\n');
    expect(r.stderr).toMatch(/1 of 2 keys shown/);
  });

  it('kv put, del and txn send writes and print their results', async () => {
    const answer = (body: Record<string, unknown>) => {
      const op = (body.op as { op: string }).op;
      if (op === 'put') return { op, revision: 3 };
      if (op === 'delete') return { op, revision: 4, deleted: 2 };
      return { op, revision: 5, succeeded: true, results: [{ op: 'put', revision: 5 }] };
    };
    expect(await run(['kv', 'put', 'a', 'hello world', '--lease', '7'], answer)).toMatchObject({ code: 0, stdout: 'OK (revision 3)\n' });
    expect(await run(['kv', 'del', 'p/', '--prefix'], answer)).toMatchObject({ code: 0, stdout: 'deleted 2 (revision 4)\n' });
    const txn = await run(['kv', 'txn', '--if', 'a version = 0', '--if', 'b exists = false', '--then', 'put a 1', '--else', 'get a'], answer);
    expect(txn).toMatchObject({ code: 0, stdout: 'SUCCESS (revision 5)\nOK\n' });
    const ops = [...(await run(['kv', 'put', '--', '-k', '-v'], answer)).sent, ...txn.sent].map((s) => s.body.op);
    expect(ops).toEqual([
      { op: 'put', key: '-k', value: '-v' },
      {
        op: 'txn',
        compare: [
          { key: 'a', target: 'version', op: '=', value: 0 },
          { key: 'b', target: 'exists', op: '=', value: false },
        ],
        success: [{ op: 'put', key: 'a', value: '1' }],
        failure: [{ op: 'range', key: 'a' }],
      },
    ]);
  });

  it('lease commands', async () => {
    const answer = (body: Record<string, unknown>) => {
      if (body.type === 'write') {
        const op = (body.op as { op: string }).op;
        return op === 'leaseGrant' ? { op, id: 12, ttlMs: 5000 } : { op, revision: 9, deleted: 1 };
      }
      if (body.type === 'leaseTimeToLive') return { id: 12, ttlMs: 5000, remainingMs: 4000, keys: ['a'] };
      return { leases: [{ id: 12, ttlMs: 5000, keys: ['a'] }] };
    };
    expect((await run(['lease', 'grant', '5000'], answer)).stdout).toBe('lease 12 granted with TTL 5000 ms\n');
    expect(JSON.parse((await run(['lease', 'grant', '5000', '--json'], answer)).stdout)).toEqual({ id: 12, ttlMs: 5000 });
    expect((await run(['lease', 'revoke', '12'], answer)).stdout).toBe('lease 12 revoked (1 key deleted, revision 9)\n');
    expect((await run(['lease', 'ttl', '12'], answer)).stdout).toBe('lease 12: TTL 5000 ms, 4000 ms remaining, keys: a\n');
    expect(JSON.parse((await run(['lease', 'list', '--json'], answer)).stdout)).toEqual({ leases: [{ id: 12, ttlMs: 5000, keys: ['a'] }] });
  });

  it('a store error is one line with its code, exit 1', async () => {
    const r = await run(['kv', 'get', 'a', '--revision', '99'], () => {
      throw new SynodError('FUTURE_REVISION', 'revision 99 is ahead of the current revision 5');
    });
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'error: FUTURE_REVISION: revision 99 is ahead of the current revision 5\n' });
  });

  it.each([
    [['kv', 'get'], /^error: USAGE: missing required argument 'key'\n$/],
    [['kv', 'get', 'a', '--revision', 'x'], /^error: USAGE: option '--revision <n>' argument 'x' is invalid/],
    [['kv', 'get', 'a', '--consistency', 'eventual'], /^error: USAGE: option '--consistency <mode>' argument 'eventual' is invalid/],
    [['kv', 'get', 'a', '--bogus'], /^error: USAGE: unknown option '--bogus'/],
    [['kv', 'frobnicate'], /^error: USAGE: unknown command 'frobnicate'/],
    [['lease', 'grant', '0'], /^error: USAGE: .*expected an integer from 1/],
    [['--timeout', '-5', 'kv', 'get', 'a'], /^error: USAGE: /],
    [['--namespace', 'bad ns', 'kv', 'get', 'a'], /^error: USAGE: --namespace "bad ns" is not a namespace/],
    [['kv', 'txn', '--if', 'a version == 1'], /^error: USAGE: unknown operator "=="/],
    [['kv', 'put', 'a', 'b', 'c'], /^error: USAGE: too many arguments for 'put'/],
    [['lease', 'ttl', 'soon'], /^error: USAGE: command-argument value 'soon' is invalid for argument 'id'/],
    [['-w', 'yaml', 'kv', 'get', 'a'], /^error: USAGE: option '-w, --write-out <format>' argument 'yaml' is invalid/],
    [['kv', 'get', 'a', '--json', '-w', 'table'], /^error: USAGE: --json conflicts with -w table/],
    [['completion', 'fish'], /^error: USAGE: command-argument value 'fish' is invalid for argument 'shell'/],
    [['lock', 'exec', 'job'], /^error: USAGE: missing required argument 'command'/],
    [['lock', 'exec', 'a/b', '--', 'true'], /^error: USAGE: lock name "a\/b"/],
  ])('%j is a usage error: exit 2, one line, nothing sent', async (argv, message) => {
    const r = await run(argv, () => {
      throw new Error('must not be sent');
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.sent).toEqual([]);
  });

  it('a group without its command shows its help and exits 2; --help and --version exit 0', async () => {
    const group = await run(['kv']);
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/Usage: synodctl kv/);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(await run(['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it('--help describes every command group with its commands, and every global option with its variable', async () => {
    const help = (await run(['--help'])).stdout.replace(/\s+/g, ' ');
    const program = buildProgram(io(), () => undefined);
    expect(program.commands.length).toBeGreaterThanOrEqual(7);
    for (const group of program.commands) {
      const line = group.commands.length > 0 ? `${group.description()}: ${group.commands.map((c) => c.name()).join(', ')}` : group.description();
      expect(help, group.name()).toContain(` ${group.name()} `);
      expect(help, group.name()).toContain(line.replace(/\s+/g, ' '));
    }
    for (const option of program.options.filter((o) => o.long !== '--version')) {
      expect(option.envVar, option.long).toBeDefined();
      expect(help, option.long).toContain(`env: ${option.envVar}`);
    }
  });

  it('the CLI says the version package.json says', async () => {
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
