import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import type { ConfigIssue } from './config.js';

/**
 * How a process proves who it is to NATS, and how its connection is encrypted. One of:
 * - a client certificate (`NATS_TLS_CERT`, `NATS_TLS_KEY`), which servers with `verify_and_map`
 *   map to a user by its subject (the compose stack and the Kubernetes manifests);
 * - a credentials file (`NATS_CREDS`: a user JWT and its NKey seed) for operator-mode servers;
 * - a user and password (`NATS_USER`, `NATS_PASSWORD`), in development mode only.
 * `NATS_TLS_CA` is the CA that signs the servers' certificates. `NATS_USER` names the identity in
 * every case: replies come to `_INBOX.<NATS_USER>`, the only inboxes the identity may subscribe to;
 * it is sent to the server only with a password.
 */
export interface NatsAuth {
  user?: string | undefined;
  password?: string | undefined;
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  creds?: string | undefined;
}

/** The variables of {@link NatsAuth}, as every app reads them. */
export interface NatsAuthConfig {
  NATS_USER?: string | undefined;
  NATS_PASSWORD?: string | undefined;
  NATS_TLS_CA?: string | undefined;
  NATS_TLS_CERT?: string | undefined;
  NATS_TLS_KEY?: string | undefined;
  NATS_CREDS?: string | undefined;
}

export function natsAuthOf(c: NatsAuthConfig): NatsAuth {
  return { user: c.NATS_USER, password: c.NATS_PASSWORD, tlsCa: c.NATS_TLS_CA, tlsCert: c.NATS_TLS_CERT, tlsKey: c.NATS_TLS_KEY, creds: c.NATS_CREDS };
}

/** The PEM certificates in a file's text (a CA file may hold several). */
function certificatesIn(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/**
 * What the files named by the variables hold, checked once at start so that a wrong file is a
 * configuration error (exit 2 naming the variable), not a connection that keeps failing: the
 * certificate and the CA parse, the key is the certificate's, the two come together, the
 * credentials file holds a JWT and a seed. (Each file was already found readable by its variable's
 * schema; see `env.readableFile`.)
 */
export function natsAuthIssues(c: NatsAuthConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const issue = (variable: keyof NatsAuthConfig, expected: string) => issues.push({ variable, expected, received: c[variable] });
  let cert: X509Certificate | undefined;
  if (c.NATS_TLS_CERT !== undefined) {
    try {
      cert = certificatesIn(readFileSync(c.NATS_TLS_CERT, 'utf8'))[0];
      if (!cert) issue('NATS_TLS_CERT', 'expected a PEM certificate (-----BEGIN CERTIFICATE-----)');
    } catch (err) {
      issue('NATS_TLS_CERT', `expected a PEM certificate: ${(err as Error).message}`);
    }
    if (c.NATS_TLS_KEY === undefined) issue('NATS_TLS_KEY', 'expected the private key of NATS_TLS_CERT (a client certificate needs both)');
  } else if (c.NATS_TLS_KEY !== undefined) {
    issue('NATS_TLS_CERT', 'expected the certificate of NATS_TLS_KEY (a client certificate needs both)');
  }
  if (c.NATS_TLS_KEY !== undefined) {
    try {
      const key = createPrivateKey(readFileSync(c.NATS_TLS_KEY));
      if (cert && !cert.checkPrivateKey(key)) issue('NATS_TLS_KEY', 'expected the private key of NATS_TLS_CERT: this key belongs to another certificate');
    } catch (err) {
      issue('NATS_TLS_KEY', `expected a PEM private key: ${(err as Error).message}`);
    }
  }
  if (c.NATS_TLS_CA !== undefined) {
    try {
      if (certificatesIn(readFileSync(c.NATS_TLS_CA, 'utf8')).length === 0) issue('NATS_TLS_CA', 'expected PEM CA certificates (-----BEGIN CERTIFICATE-----)');
    } catch (err) {
      issue('NATS_TLS_CA', `expected PEM CA certificates: ${(err as Error).message}`);
    }
  }
  if (c.NATS_CREDS !== undefined) {
    const text = readFileSync(c.NATS_CREDS, 'utf8');
    if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
      issue('NATS_CREDS', 'expected a NATS credentials file: a user JWT and its NKey seed (as `nsc` writes it)');
    }
    if (c.NATS_PASSWORD !== undefined) issue('NATS_PASSWORD', 'expected no password beside NATS_CREDS: a connection authenticates one way');
  }
  return issues;
}

/** Whether a PEM file holds a certificate from the development CA (its subject or issuer carries `mark`). */
export function isDevelopmentCertificateFile(path: string, mark: string): boolean {
  try {
    return certificatesIn(readFileSync(path, 'utf8')).some((x) => `${x.subject}\n${x.issuer}`.toLowerCase().includes(mark));
  } catch {
    // Unreadable or unparseable: natsAuthIssues names that.
    return false;
  }
}

/** nats.js connection options for an identity (TLS, credentials, password), without the inbox prefix. */
export function natsAuthOptions(auth: NatsAuth): Partial<ConnectionOptions> {
  const options: Partial<ConnectionOptions> = {};
  if (auth.tlsCa !== undefined || auth.tlsCert !== undefined) {
    // Files, not their contents: nats.js reads them on every (re)connection, so renewed
    // certificates are used without a restart.
    options.tls = {
      ...(auth.tlsCa !== undefined ? { caFile: auth.tlsCa } : {}),
      ...(auth.tlsCert !== undefined ? { certFile: auth.tlsCert, keyFile: auth.tlsKey } : {}),
    };
  }
  if (auth.creds !== undefined) {
    const path = auth.creds;
    options.authenticator = credsAuthenticator(() => readFileSync(path));
  }
  if (auth.password !== undefined) {
    options.user = auth.user ?? '';
    options.pass = auth.password;
  }
  return options;
}

/** How a process authenticates, for its logs (never the secret itself). */
export function natsAuthKind(auth: NatsAuth): 'certificate' | 'creds' | 'password' | 'none' {
  if (auth.tlsCert !== undefined) return 'certificate';
  if (auth.creds !== undefined) return 'creds';
  if (auth.password !== undefined) return 'password';
  return 'none';
}
