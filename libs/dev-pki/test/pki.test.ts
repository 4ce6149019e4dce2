import { X509Certificate } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEVELOPMENT_MARK,
  belongsTo,
  certificateIdentities,
  commonName,
  createCa,
  ensureDevelopmentPki,
  issueClientCertificate,
  issueServerCertificate,
  pkiPaths,
  routeHosts,
  subjectOf,
  type EnsurePkiOptions,
} from '../src/index.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const validity = { now: NOW, validityDays: 100 };

describe('certificates', () => {
  it('issues a client certificate whose subject reads as NATS maps it, signed by the CA, without alternative names', async () => {
    const ca = await createCa({ now: NOW, validityDays: 1000 });
    const client = await issueClientCertificate(ca, { ...validity, subject: 'CN=consensus,O=Synod' });
    expect(subjectOf(client.cert)).toBe('CN=consensus,O=Synod');
    expect(belongsTo(client, ca.cert)).toBe(true);
    const x = new X509Certificate(client.cert);
    expect(x.subjectAltName).toBeUndefined();
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x.issuer).toContain(`OU=${DEVELOPMENT_MARK}`);
    expect(new Date(x.validTo).getTime() - NOW.getTime()).toBe(100 * 86_400_000);
    expect(new X509Certificate(ca.cert).ca).toBe(true);
  });

  it('issues a node certificate for serving and for routes, naming its hosts', async () => {
    const ca = await createCa({ now: NOW, validityDays: 1000 });
    const node = await issueServerCertificate(ca, { ...validity, name: 'nats-1', hosts: ['nats-1', 'localhost', '127.0.0.1', '::1'] });
    const x = new X509Certificate(node.cert);
    expect(x.subjectAltName).toBe('DNS:nats-1, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x.keyUsage?.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(x.checkHost('nats-1')).toBe('nats-1');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('tells a certificate of another CA, or with another key, from its own', async () => {
    const ca = await createCa({ now: NOW, validityDays: 1000 });
    const other = await createCa({ now: NOW, validityDays: 1000, subject: 'CN=Elsewhere,O=Other' });
    const a = await issueClientCertificate(ca, { ...validity, subject: 'CN=a,O=Synod' });
    const b = await issueClientCertificate(other, { ...validity, subject: 'CN=a,O=Synod' });
    expect(belongsTo(b, ca.cert)).toBe(false);
    expect(belongsTo({ cert: a.cert, key: b.key }, ca.cert)).toBe(false);
    expect(belongsTo({ cert: 'garbage', key: a.key }, ca.cert)).toBe(false);
    expect(subjectOf(other.cert)).toBe('CN=Elsewhere,O=Other');
  });

  it('refuses a subject that is not a plain distinguished name', async () => {
    const ca = await createCa({ now: NOW, validityDays: 1000 });
    await expect(issueClientCertificate(ca, { ...validity, subject: 'consensus' })).rejects.toThrow(/distinguished name/);
    await expect(issueClientCertificate(ca, { ...validity, subject: 'CN=a\\,b' })).rejects.toThrow(/distinguished name/);
  });
});

describe('identities from the NATS configuration', () => {
  it('lists the users named by a certificate subject, skipping comments and other users', () => {
    const conf = `authorization {
      users: [
        { user: "CN=consensus,O=Synod", permissions: $P }
        # { user: "CN=commented,O=Synod" }
        { user: plain, password: $X }
        { user: 'CN=lock-manager,O=Synod' }
        {
          user = "CN=sample,OU=workers,O=Synod"
        }
      ]
    }`;
    expect(certificateIdentities(conf)).toEqual([
      { subject: 'CN=consensus,O=Synod', name: 'consensus' },
      { subject: 'CN=lock-manager,O=Synod', name: 'lock-manager' },
      { subject: 'CN=sample,OU=workers,O=Synod', name: 'sample' },
    ]);
    expect(commonName('O=Synod,CN=x')).toBe('x');
  });

  it('refuses a common name that cannot name a folder, and a name used twice', () => {
    expect(() => certificateIdentities('user: "CN=../x,O=Synod"')).toThrow(/CN must be/);
    expect(() => certificateIdentities('user: "CN=a,O=Synod"\nuser: "CN=a,O=Other"')).toThrow(/twice|two NATS users/);
  });

  it('names the nodes of a cluster by its route hosts', () => {
    expect(routeHosts('cluster {\n routes: [\n  nats-route://nats-1:6222\n  nats-route://user:pw@nats-2:6222 # x\n  # nats-route://old:6222\n ]\n}')).toEqual(['nats-1', 'nats-2']);
  });
});

describe('ensureDevelopmentPki', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'synod-pki-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const options = (over: Partial<EnsurePkiOptions> = {}): EnsurePkiOptions => ({
    dir: join(dir, 'certs'),
    servers: [{ name: 'nats-1', hosts: ['nats-1', 'localhost'] }],
    clients: [
      { subject: 'CN=consensus,O=Synod', name: 'consensus' },
      { subject: 'CN=synodctl,O=Synod', name: 'synodctl' },
    ],
    now: NOW,
    validityDays: 100,
    ...over,
  });
  const read = (rel: string) => readFileSync(join(dir, 'certs', rel), 'utf8');

  it('creates the CA and every certificate once, then keeps them byte for byte', async () => {
    const first = await ensureDevelopmentPki(options());
    expect(first).toEqual({ ca: 'created', issued: ['nats-1', 'consensus', 'synodctl'], kept: [] });
    const p = pkiPaths(join(dir, 'certs'));
    expect(statSync(p.caKey).mode & 0o777).toBe(0o600);
    expect(statSync(p.key('consensus')).mode & 0o777).toBe(0o600);
    expect(statSync(p.cert('consensus')).mode & 0o777).toBe(0o644);
    expect(subjectOf(read('consensus/cert.pem'))).toBe('CN=consensus,O=Synod');
    const before = ['ca.pem', 'nats-1/cert.pem', 'consensus/key.pem'].map(read);
    const second = await ensureDevelopmentPki(options());
    expect(second).toEqual({ ca: 'kept', issued: [], kept: ['nats-1', 'consensus', 'synodctl'] });
    expect(['ca.pem', 'nats-1/cert.pem', 'consensus/key.pem'].map(read)).toEqual(before);
  });

  it('issues only for an identity added later', async () => {
    await ensureDevelopmentPki(options());
    const ca = read('ca.pem');
    const r = await ensureDevelopmentPki(options({ clients: [...options().clients, { subject: 'CN=pricing,O=Synod', name: 'pricing' }] }));
    expect(r).toEqual({ ca: 'kept', issued: ['pricing'], kept: ['nats-1', 'consensus', 'synodctl'] });
    expect(read('ca.pem')).toBe(ca);
    expect(belongsTo({ cert: read('pricing/cert.pem'), key: read('pricing/key.pem') }, ca)).toBe(true);
  });

  it('re-issues what another CA signed, what lost its key, and what expires within 30 days', async () => {
    await ensureDevelopmentPki(options());
    const stranger = await issueClientCertificate(await createCa({ now: NOW, validityDays: 1000 }), { ...validity, subject: 'CN=consensus,O=Synod' });
    writeFileSync(join(dir, 'certs', 'consensus', 'cert.pem'), stranger.cert);
    unlinkSync(join(dir, 'certs', 'synodctl', 'key.pem'));
    const soon = new Date(NOW.getTime() + 80 * 86_400_000);
    const r = await ensureDevelopmentPki(options({ now: soon }));
    // 80 of 100 days gone: every leaf is within 30 days of its end.
    expect(r.issued.sort()).toEqual(['consensus', 'nats-1', 'synodctl']);
    expect(belongsTo({ cert: read('consensus/cert.pem'), key: read('consensus/key.pem') }, read('ca.pem'))).toBe(true);
    const again = await ensureDevelopmentPki(options({ now: soon }));
    expect(again.issued).toEqual([]);
  });

  it('never replaces a CA whose key is not there, and names what it cannot issue', async () => {
    await ensureDevelopmentPki(options());
    unlinkSync(join(dir, 'certs', 'ca-key.pem'));
    // Everything present and sound: nothing to do, no key needed.
    expect((await ensureDevelopmentPki(options())).issued).toEqual([]);
    await expect(ensureDevelopmentPki(options({ clients: [{ subject: 'CN=new,O=Synod', name: 'new' }] }))).rejects.toThrow(/cannot be issued.*\bnew\b/);
  });

  it('writes a copy of one identity for a program outside, and rewrites it only when it differs', async () => {
    const copy = { name: 'synodctl', dir: join(dir, 'clone', 'tmp', 'certs', 'synodctl') };
    expect((await ensureDevelopmentPki(options({ copy }))).copy).toBe('written');
    expect(readFileSync(join(copy.dir, 'cert.pem'), 'utf8')).toBe(read('synodctl/cert.pem'));
    expect(readFileSync(join(copy.dir, 'ca.pem'), 'utf8')).toBe(read('ca.pem'));
    expect(statSync(join(copy.dir, 'key.pem')).mode & 0o777).toBe(0o600);
    expect((await ensureDevelopmentPki(options({ copy }))).copy).toBe('unchanged');
    // A new CA (the volume was removed): the copy follows.
    rmSync(join(dir, 'certs'), { recursive: true });
    expect((await ensureDevelopmentPki(options({ copy }))).copy).toBe('written');
    expect(readFileSync(join(copy.dir, 'ca.pem'), 'utf8')).toBe(read('ca.pem'));
    await expect(ensureDevelopmentPki(options({ copy: { name: 'nobody', dir: copy.dir } }))).rejects.toThrow(/no identity named nobody/);
  });

  // Only root can give files away: the compose service runs as root and writes into a user's clone.
  it.skipIf(process.getuid?.() !== 0)('as root, gives the copy to the owner of the folder it goes into, and the client keys to their owner', async () => {
    const clone = join(dir, 'clone');
    mkdirSync(clone);
    chownSync(clone, 4321, 4322);
    const copy = { name: 'synodctl', dir: join(clone, 'tmp', 'certs', 'synodctl') };
    await ensureDevelopmentPki(options({ copy, clientKeyOwner: { uid: 1000, gid: 1000 } }));
    for (const path of ['tmp', 'tmp/certs', 'tmp/certs/synodctl', 'tmp/certs/synodctl/ca.pem', 'tmp/certs/synodctl/cert.pem', 'tmp/certs/synodctl/key.pem']) {
      expect([path, statSync(join(clone, path)).uid, statSync(join(clone, path)).gid]).toEqual([path, 4321, 4322]);
    }
    const p = pkiPaths(join(dir, 'certs'));
    expect(statSync(p.key('consensus')).uid).toBe(1000);
    // The CA's key and the node keys stay root's: no app may read them.
    expect(statSync(p.caKey).uid).toBe(0);
    expect(statSync(p.key('nats-1')).uid).toBe(0);
  });

  it('refuses a node and an identity with one name', async () => {
    await expect(ensureDevelopmentPki(options({ servers: [{ name: 'consensus', hosts: [] }] }))).rejects.toThrow(/both a NATS node and a service identity/);
  });
});
