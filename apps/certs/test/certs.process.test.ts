import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppProcess, appScript, workspaceRoot } from '@synod/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * The bundled one-shot as the compose `certs` service and tools/dev-certs run it: on a copy of
 * infra/nats, into a temporary folder, twice, then with a user added to auth.conf.
 */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'synod-certs-'));
  cpSync(join(workspaceRoot, 'infra', 'nats'), join(dir, 'nats'), { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function certs(env: Record<string, string> = {}) {
  const r = await AppProcess.runToExit({
    script: appScript('certs'),
    env: { CERTS_DIR: join(dir, 'pki'), CERTS_NATS_CONFIG_DIR: join(dir, 'nats'), CERTS_CLI_DIR: join(dir, 'clone', 'tmp', 'certs', 'synodctl'), ...env },
  });
  const done = r.app.lines.find((l) => l.msg === 'certificates ready') as { ca?: string; issued?: string[]; kept?: string[]; copy?: string } | undefined;
  return { code: r.code, done, output: [...r.app.stderr, ...r.app.lines.map((l) => JSON.stringify(l))].join('\n') };
}

const subject = (path: string) => new X509Certificate(readFileSync(join(dir, 'pki', path))).subject.split('\n').reverse().join(',');

describe('certs (the compose one-shot)', () => {
  it('issues a CA, a certificate per NATS node and per identity of auth.conf, and the CLI copy; then keeps them', async () => {
    const first = await certs();
    expect(first.code, first.output).toBe(0);
    expect(first.done).toMatchObject({ ca: 'created', copy: 'written', issued: ['nats-1', 'nats-2', 'nats-3', 'consensus', 'lock-manager', 'gateway', 'synodctl', 'console', 'sample'] });
    expect(subject('gateway/cert.pem')).toBe('CN=gateway,O=Synod');
    expect(new X509Certificate(readFileSync(join(dir, 'pki', 'nats-2', 'cert.pem'))).subjectAltName).toContain('DNS:nats-2');
    expect(readFileSync(join(dir, 'clone', 'tmp', 'certs', 'synodctl', 'cert.pem'), 'utf8')).toBe(readFileSync(join(dir, 'pki', 'synodctl', 'cert.pem'), 'utf8'));
    const caBefore = readFileSync(join(dir, 'pki', 'ca.pem'), 'utf8');

    const second = await certs();
    expect(second.done).toMatchObject({ ca: 'kept', issued: [], copy: 'unchanged' });
    expect(readFileSync(join(dir, 'pki', 'ca.pem'), 'utf8')).toBe(caBefore);

    // A user added to auth.conf later (as the worker generator adds one) gets its certificate, alone.
    const auth = join(dir, 'nats', 'auth.conf');
    writeFileSync(auth, readFileSync(auth, 'utf8').replace('# synod:worker-users', '{\n  user: "CN=pricing,O=Synod"\n}\n# synod:worker-users'));
    const third = await certs({ CERTS_KEY_OWNER: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}` });
    expect(third.done).toMatchObject({ ca: 'kept', issued: ['pricing'] });
    expect(subject('pricing/cert.pem')).toBe('CN=pricing,O=Synod');
    expect(statSync(join(dir, 'pki', 'pricing', 'key.pem')).mode & 0o777).toBe(0o600);
  });

  it('exits 2 naming a bad variable', async () => {
    const bad = await certs({ CERTS_KEY_OWNER: 'node' });
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('CERTS_KEY_OWNER: expected uid:gid');
    const noConfig = await certs({ CERTS_NATS_CONFIG_DIR: join(dir, 'nowhere') });
    expect(noConfig.code).toBe(2);
    expect(noConfig.output).toContain('CERTS_NATS_CONFIG_DIR: expected a folder holding');
  });
});
