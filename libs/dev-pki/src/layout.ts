import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { belongsTo, createCa, issueClientCertificate, issueServerCertificate, validUntil, type CertificateAndKey } from './issue.js';
import type { Identity } from './identities.js';

/**
 * The development PKI on disk, and the rule that makes it safe to run on every start: what exists
 * and is sound is kept; only what is missing, was signed by another CA, does not match its key, or
 * expires within {@link RENEW_BEFORE_DAYS} is issued.
 *
 *   <dir>/ca.pem              the CA certificate (what every client and server trusts)
 *   <dir>/ca-key.pem          the CA's key (0600; needed only to issue)
 *   <dir>/<name>/cert.pem     a NATS node's or a service's certificate
 *   <dir>/<name>/key.pem      its key (0600)
 */

export const RENEW_BEFORE_DAYS = 30;
/** The development CA outlives the certificates it signs, so renewing them never needs a new CA. */
export const CA_VALIDITY_DAYS = 3650;
const DAY_MS = 86_400_000;

export interface PkiPaths {
  ca: string;
  caKey: string;
  cert(name: string): string;
  key(name: string): string;
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    cert: (name) => join(dir, name, 'cert.pem'),
    key: (name) => join(dir, name, 'key.pem'),
  };
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface EnsurePkiOptions {
  dir: string;
  /** NATS nodes: a server certificate each, for these host names and addresses. */
  servers: readonly { name: string; hosts: readonly string[] }[];
  /** Service identities: a client certificate each. */
  clients: readonly Identity[];
  now: Date;
  /** Validity of the leaf certificates. */
  validityDays: number;
  /** Owner of the client keys (the user the services run as); default: as any new file. */
  clientKeyOwner?: Owner;
  /** A copy of one client's certificate, key and the CA, for a program outside (the CLI on the host). */
  copy?: { name: string; dir: string };
}

export interface PkiReport {
  ca: 'kept' | 'created';
  issued: string[];
  kept: string[];
  copy?: 'written' | 'unchanged';
}

export class PkiError extends Error {
  override readonly name = 'PkiError';
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * New files and folders take the owner of the nearest folder that already existed, so that what is
 * written into a user's clone by a root process (the compose service, a root shell) stays theirs.
 * Only root can give files away; anyone else writes as themselves.
 */
class Writer {
  private readonly root = typeof process.getuid === 'function' && process.getuid() === 0;

  async ensureDir(dir: string): Promise<void> {
    const missing: string[] = [];
    let at = resolve(dir);
    let owner: Owner | undefined;
    for (;;) {
      try {
        const s = await stat(at);
        owner = { uid: s.uid, gid: s.gid };
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        missing.unshift(at);
        const up = dirname(at);
        if (up === at) break;
        at = up;
      }
    }
    for (const d of missing) {
      await mkdir(d, { mode: 0o755 });
      if (owner) await this.chown(d, owner);
    }
  }

  async write(path: string, text: string, mode: number, owner?: Owner): Promise<void> {
    await this.ensureDir(dirname(path));
    await writeFile(path, text, { mode });
    // writeFile's mode applies only to a new file (and passes the umask).
    await chmod(path, mode);
    const s = await stat(dirname(path));
    await this.chown(path, owner ?? { uid: s.uid, gid: s.gid });
  }

  private async chown(path: string, owner: Owner): Promise<void> {
    if (!this.root) return;
    try {
      await chown(path, owner.uid, owner.gid);
    } catch (err) {
      // File systems that keep their own owners (a Docker Desktop bind mount) refuse; the file is still there.
      if ((err as NodeJS.ErrnoException).code !== 'EPERM' && (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    }
  }
}

/** Makes the PKI in `opts.dir` complete and sound, issuing only what is needed. */
export async function ensureDevelopmentPki(opts: EnsurePkiOptions): Promise<PkiReport> {
  const names = [...opts.servers.map((s) => s.name), ...opts.clients.map((c) => c.name)];
  const clash = names.find((n, i) => names.indexOf(n) !== i);
  if (clash !== undefined) throw new PkiError(`${clash} is both a NATS node and a service identity, or named twice: each needs its own folder`);

  const paths = pkiPaths(opts.dir);
  const writer = new Writer();
  const validity = { now: opts.now, validityDays: opts.validityDays };
  const renewBy = opts.now.getTime() + RENEW_BEFORE_DAYS * DAY_MS;

  const caCert = await readIfExists(paths.ca);
  const caKey = await readIfExists(paths.caKey);
  let ca: CertificateAndKey | undefined = caCert !== undefined && caKey !== undefined ? { cert: caCert, key: caKey } : undefined;
  let caState: PkiReport['ca'] = 'kept';
  if (caCert === undefined) {
    ca = await createCa({ now: opts.now, validityDays: CA_VALIDITY_DAYS });
    await writer.write(paths.caKey, ca.key, 0o600);
    await writer.write(paths.ca, ca.cert, 0o644);
    caState = 'created';
  }
  const trusted = ca?.cert ?? caCert!;

  const report: PkiReport = { ca: caState, issued: [], kept: [] };
  const leaves: { name: string; issue: (ca: CertificateAndKey) => Promise<CertificateAndKey>; keyOwner?: Owner }[] = [
    ...opts.servers.map((s) => ({ name: s.name, issue: (c: CertificateAndKey) => issueServerCertificate(c, { ...validity, name: s.name, hosts: s.hosts }) })),
    ...opts.clients.map((c) => ({
      name: c.name,
      issue: (authority: CertificateAndKey) => issueClientCertificate(authority, { ...validity, subject: c.subject }),
      ...(opts.clientKeyOwner ? { keyOwner: opts.clientKeyOwner } : {}),
    })),
  ];
  const needed: typeof leaves = [];
  for (const leaf of leaves) {
    const cert = await readIfExists(paths.cert(leaf.name));
    const key = await readIfExists(paths.key(leaf.name));
    const sound = cert !== undefined && key !== undefined && belongsTo({ cert, key }, trusted) && validUntil(cert).getTime() > renewBy;
    if (sound) report.kept.push(leaf.name);
    else needed.push(leaf);
  }
  if (needed.length > 0 && ca === undefined) {
    throw new PkiError(
      `${paths.ca} has no key beside it (${paths.caKey}), so ${needed.map((l) => l.name).join(', ')} cannot be issued: ` +
        'put their certificates and keys in place (signed by that CA), or remove ca.pem to start a new development CA',
    );
  }
  for (const leaf of needed) {
    const pair = await leaf.issue(ca!);
    await writer.write(paths.key(leaf.name), pair.key, 0o600, leaf.keyOwner);
    await writer.write(paths.cert(leaf.name), pair.cert, 0o644);
    report.issued.push(leaf.name);
  }

  if (opts.copy) {
    const { name, dir } = opts.copy;
    if (!leaves.some((l) => l.name === name)) throw new PkiError(`no identity named ${name} to copy to ${dir}`);
    const files: [string, string, number][] = [
      [join(dir, 'ca.pem'), trusted, 0o644],
      [join(dir, 'cert.pem'), await readFile(paths.cert(name), 'utf8'), 0o644],
      [join(dir, 'key.pem'), await readFile(paths.key(name), 'utf8'), 0o600],
    ];
    let changed = false;
    for (const [path, text, mode] of files) {
      if ((await readIfExists(path)) === text) continue;
      await writer.write(path, text, mode);
      changed = true;
    }
    report.copy = changed ? 'written' : 'unchanged';
  }
  return report;
}
