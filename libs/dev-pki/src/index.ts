export {
  DEVELOPMENT_MARK,
  DEVELOPMENT_CA_SUBJECT,
  createCa,
  issueServerCertificate,
  issueClientCertificate,
  belongsTo,
  subjectOf,
  commonName,
  isDistinguishedName,
  validUntil,
} from './issue.js';
export type { CertificateAndKey, Validity } from './issue.js';
export { certificateIdentities, routeHosts } from './identities.js';
export type { Identity } from './identities.js';
export { ensureDevelopmentPki, pkiPaths, PkiError, RENEW_BEFORE_DAYS, CA_VALIDITY_DAYS } from './layout.js';
export type { EnsurePkiOptions, PkiPaths, PkiReport, Owner } from './layout.js';
