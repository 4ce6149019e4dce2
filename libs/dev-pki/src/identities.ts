import { commonName, isDistinguishedName } from './issue.js';

/**
 * What a development PKI issues for, read from the NATS configuration itself, so a user added to
 * `auth.conf` (by hand or by the worker generator) gets its certificate on the next run.
 */

/** A name that is safe as a file name and as an inbox token: what a service or node may be called. */
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface Identity {
  /** The certificate subject, as the NATS user of `auth.conf` names it: `CN=consensus,O=Synod`. */
  subject: string;
  /** Its common name: the folder its files go to and the NATS_USER (inbox prefix) of its service. */
  name: string;
}

/**
 * The certificate identities of an `authorization { users: [...] }` block: every user whose name
 * is a distinguished name with a common name (`user: "CN=consensus,O=Synod"`). Users with plain
 * names (passwords, nkeys) are not certificate identities and are skipped.
 */
export function certificateIdentities(authConf: string): Identity[] {
  const out: Identity[] = [];
  const seen = new Set<string>();
  // Comments first, so a commented-out user is not issued a certificate.
  const text = authConf.replace(/(^|\s)(#|\/\/).*$/gm, '$1');
  for (const m of text.matchAll(/\buser\s*[:=]\s*("([^"]*)"|'([^']*)')/g)) {
    const subject = (m[2] ?? m[3] ?? '').trim();
    if (!isDistinguishedName(subject)) continue;
    const name = commonName(subject);
    if (name === undefined) continue;
    if (!NAME.test(name)) throw new Error(`NATS user ${JSON.stringify(subject)}: its CN must be 1-64 letters, digits, _ or - (it names its files and its inbox prefix)`);
    if (seen.has(name)) throw new Error(`two NATS users have the common name ${JSON.stringify(name)}`);
    seen.add(name);
    out.push({ subject, name });
  }
  return out;
}

/**
 * The NATS nodes of a cluster configuration: the host names of its `nats-route://host:port` routes
 * (each node's certificate must name its host, which its peers check on the route).
 */
export function routeHosts(natsConf: string): string[] {
  const text = natsConf.replace(/(^|\s)(#|\/\/).*$/gm, '$1');
  const hosts = [...text.matchAll(/\bnats-route:\/\/(?:[^@\s/]*@)?([A-Za-z0-9.-]+):\d+/g)].map((m) => m[1]!);
  for (const h of hosts) if (!NAME.test(h)) throw new Error(`route host ${JSON.stringify(h)}: expected 1-64 letters, digits, _ or - (it names the node's files)`);
  return [...new Set(hosts)];
}
