// @peculiar/x509 resolves its ASN.1 and algorithm providers through tsyringe, which needs the
// Reflect metadata API: it must be loaded before the library.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as ReturnType<typeof x509.cryptoProvider.get>);

/** ECDSA P-256 with SHA-256: small keys, generated in milliseconds, understood by Go's TLS and Node's. */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/**
 * The mark every development certificate carries in its issuer (the development CA's subject), as
 * development default secrets carry it in their value: production mode refuses a certificate or CA
 * that holds it (`@synod/service-kit`'s `DEVELOPMENT_SECRET_MARK`, the same text).
 */
export const DEVELOPMENT_MARK = 'dev-secret';

/** The development CA's subject, as NATS and OpenSSL print it (last RDN first). */
export const DEVELOPMENT_CA_SUBJECT = `CN=Synod development CA,OU=${DEVELOPMENT_MARK},O=Synod`;

/** A certificate and its private key, PEM-encoded (the key as PKCS#8). */
export interface CertificateAndKey {
  cert: string;
  key: string;
}

export interface Validity {
  /** Start of validity (the caller's clock: nothing here reads one). */
  now: Date;
  validityDays: number;
}

/** A distinguished name as NATS matches it (`verify_and_map`): `CN=consensus,O=Synod`, last RDN first. */
const DN = /^[A-Za-z]+=[^,+="\\<>;#]+(,[A-Za-z]+=[^,+="\\<>;#]+)*$/;

export function isDistinguishedName(text: string): boolean {
  return DN.test(text);
}

/**
 * NATS (Go's `pkix.Name.String`) and OpenSSL print a subject from its last RDN to its first, so the
 * certificate encodes the RDNs of `CN=consensus,O=Synod` as O first, then CN.
 */
function encodedName(dn: string): string {
  if (!isDistinguishedName(dn)) throw new Error(`${JSON.stringify(dn)} is not a distinguished name like CN=consensus,O=Synod`);
  return dn.split(',').reverse().join(', ');
}

/** The subject of a PEM certificate as NATS prints and maps it: `CN=consensus,O=Synod`. */
export function subjectOf(certPem: string): string {
  return new X509Certificate(certPem).subject.split('\n').reverse().join(',');
}

/** The value of the subject's common name: the identity's short name (`consensus`). */
export function commonName(dn: string): string | undefined {
  for (const rdn of dn.split(',')) {
    const [type, value] = rdn.split('=');
    if (type?.toUpperCase() === 'CN') return value;
  }
  return undefined;
}

function serialNumber(): string {
  // 16 random bytes with the top bit clear: a positive integer, as RFC 5280 asks.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function notAfter(v: Validity): Date {
  return new Date(v.now.getTime() + v.validityDays * DAY_MS);
}

/** A self-signed CA that may sign leaf certificates only (path length 0). */
export async function createCa(v: Validity & { subject?: string }): Promise<CertificateAndKey> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: encodedName(v.subject ?? DEVELOPMENT_CA_SUBJECT),
    notBefore: v.now,
    notAfter: notAfter(v),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await pkcs8Pem(keys.privateKey) };
}

interface LeafSpec extends Validity {
  subject: string;
  usages: string[];
  /** DNS names and IP addresses (subject alternative names); none for client identities. */
  hosts?: readonly string[];
}

async function issueLeaf(ca: CertificateAndKey, spec: LeafSpec): Promise<CertificateAndKey> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.key), ALGORITHM, false, ['sign']);
  const keys = await generateKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(spec.usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (spec.hosts && spec.hosts.length > 0) {
    const names = spec.hosts.map((h) => ({ type: isIpAddress(h) ? ('ip' as const) : ('dns' as const), value: h }));
    extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: encodedName(spec.subject),
    issuer: caCert.subject,
    notBefore: spec.now,
    notAfter: notAfter(spec),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions,
  });
  return { cert: cert.toString('pem'), key: await pkcs8Pem(keys.privateKey) };
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/**
 * A NATS node's certificate: it serves clients and, on cluster routes, both accepts and dials its
 * peers, so it is good for server and client authentication. `hosts` are its names (the route URLs'
 * host names, which a route's peer checks) and the addresses clients dial.
 */
export function issueServerCertificate(ca: CertificateAndKey, spec: Validity & { name: string; hosts: readonly string[] }): Promise<CertificateAndKey> {
  return issueLeaf(ca, { ...spec, subject: `CN=${spec.name},O=Synod`, usages: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] });
}

/**
 * A service's identity: a client certificate whose subject is the service's user in the NATS
 * authorization (`verify_and_map`). No subject alternative names: a server maps a certificate by
 * its e-mail and DNS names before its subject, and a route accepts a peer by its DNS names.
 */
export function issueClientCertificate(ca: CertificateAndKey, spec: Validity & { subject: string }): Promise<CertificateAndKey> {
  return issueLeaf(ca, { ...spec, usages: [x509.ExtendedKeyUsage.clientAuth] });
}

/** Whether `certPem` was signed by `caPem`'s key and `keyPem` is its private key. */
export function belongsTo(pair: CertificateAndKey, caPem: string): boolean {
  try {
    const cert = new X509Certificate(pair.cert);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey) && cert.checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return false;
  }
}

/** The end of a certificate's validity. */
export function validUntil(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}
