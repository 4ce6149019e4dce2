import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { subjects } from '@synod/protocol';
import { busRequest, inboxPrefixFor } from '@synod/service-kit';
import { AppProcess, appScript, findNatsBinary, startNatsBinary, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * NATS_CREDS: an app on a nats-server in operator mode (decentralized JWT auth, memory resolver),
 * with the operator, account and user JWTs minted here by @nats-io/jwt from @nats-io/nkeys key
 * pairs. The user JWTs carry the permissions (a worker's, as auth.conf gives `sample`).
 */

const NS = uniqueNamespace('creds');
let dir: string;
let nats: NatsFixture;
let worker: AppProcess;
let account: KeyPair;
const creds: Record<string, string> = {};

async function mintUser(name: string, permissions: { pub: string[]; sub: string[] }): Promise<string> {
  const user = createUser();
  const jwt = await encodeUser(name, user, account, { pub: { allow: permissions.pub }, sub: { allow: permissions.sub } });
  const path = join(dir, `${name}.creds`);
  writeFileSync(path, fmtCreds(jwt, user));
  return path;
}

async function connectAs(name: string): Promise<NatsConnection> {
  const path = creds[name]!;
  return connect({ servers: nats.url, name: `creds-test/${name}`, timeout: 3000, inboxPrefix: inboxPrefixFor(name), authenticator: credsAuthenticator(() => readFileSync(path)) });
}

describe('NATS_CREDS against an operator-mode nats-server', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'synod-creds-'));
    const operator = createOperator();
    const system = createAccount();
    account = createAccount();
    // Accounts default to no connections at all: these may have any number.
    const limits = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1 };
    const conf = join(dir, 'operator.conf');
    writeFileSync(
      conf,
      [
        `operator: ${await encodeOperator('synod-test', operator)}`,
        `system_account: ${system.getPublicKey()}`,
        'resolver: MEMORY',
        'resolver_preload: {',
        `  ${system.getPublicKey()}: ${await encodeAccount('SYS', system, { limits }, { signer: operator })}`,
        `  ${account.getPublicKey()}: ${await encodeAccount('SYNOD', account, { limits }, { signer: operator })}`,
        '}',
      ].join('\n'),
    );
    creds.sample = await mintUser('sample', {
      pub: [`${NS}.svc.sample.>`, `${NS}.registry.>`, '_INBOX.>'],
      sub: [`${NS}.svc.sample.>`, `${NS}.registry.discover`, '_INBOX.sample.>'],
    });
    creds.client = await mintUser('client', { pub: [`${NS}.svc.sample.>`], sub: ['_INBOX.client.>'] });
    creds.intruder = await mintUser('intruder', { pub: [`${NS}.registry.>`], sub: ['_INBOX.intruder.>'] });
    const bin = findNatsBinary();
    if (!bin) throw new Error('this suite needs a nats-server binary on PATH (apt-get install nats-server)');
    nats = await startNatsBinary(bin, ['-c', conf]);
    ({ app: worker } = await AppProcess.start({
      name: 'worker',
      script: appScript('sample-worker'),
      env: { NATS_URL: nats.url, SYNOD_NAMESPACE: NS, NATS_USER: 'sample', NATS_CREDS: creds.sample, WORKER_SERVICE: 'sample', WORKER_ID: 'creds-w1', LOG_LEVEL: 'warn' },
    }));
  });

  afterAll(async () => {
    await worker?.stop(5000);
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('connects an app with a credentials file and serves what its JWT permits', async () => {
    const nc = await connectAs('client');
    try {
      const reply = await busRequest(nc, subjects.workerEndpoint(NS, 'sample', 'creds-w1', 'echo'), { message: 'by jwt' }, { timeoutMs: 5000, requestId: 'c1' });
      expect(reply).toMatchObject({ message: 'by jwt', worker: 'creds-w1' });
    } finally {
      await nc.close();
    }
  });

  it("refuses what a user's JWT does not permit", async () => {
    const nc = await connectAs('intruder');
    try {
      await expect(nc.request(subjects.workerEndpoint(NS, 'sample', 'creds-w1', 'echo'), '{"message":"x"}', { timeout: 2000 })).rejects.toThrow(/Permissions Violation/);
    } finally {
      await nc.close();
    }
  });

  it('refuses to start on a file that is not a credentials file, naming NATS_CREDS (exit 2)', async () => {
    const bad = join(dir, 'bad.creds');
    writeFileSync(bad, 'not a credentials file\n');
    const r = await AppProcess.runToExit({ script: appScript('sample-worker'), env: { NATS_URL: nats.url, NATS_CREDS: bad, WORKER_SERVICE: 'sample' } });
    expect(r.code).toBe(2);
    expect(r.app.stderr.join('\n')).toContain('NATS_CREDS: expected a NATS credentials file');
  });
});
