import { z } from 'zod';

/**
 * Subject names. Apps build every subject with these functions, never by concatenation, so the
 * layout below stays the only one:
 *
 *   <ns>.registry.announce                       worker announces and heartbeats (pub/sub)
 *   <ns>.registry.deregister                     worker leaves (pub/sub)
 *   <ns>.registry.discover                       a starting gateway asks every worker to announce
 *   <ns>.svc.<service>.<workerId>.<endpoint>     one worker instance's endpoint (request/reply)
 *   <ns>.svc.<service>.<workerId>._ping          one worker instance's liveness probe
 *   <ns>.peer.<nodeId>                           consensus peer messages to one replica (any engine)
 *   <ns>.kv.leader                               the store's API: only the current leader subscribes
 *   <ns>.kv.node.<nodeId>                        one replica (stale reads, status, admin)
 *   <ns>.kv.any                                  any replica (queue group): stale reads
 *   <ns>.kv.watch.<nodeId>                       watch control on one replica
 *   <ns>.lock.api                                the lock manager's API (queue group)
 *   <ns>.lock.admin                              the lock manager's admin requests (the console only)
 *
 * Everything a service's workers serve sits under `<ns>.svc.<service>.`, and registry traffic under
 * `<ns>.registry.`, so a NATS permission per service needs one wildcard each.
 */

/** One subject token: no dots, spaces or wildcards. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
/** A namespace is one or more tokens joined by dots (`synod`, `team-a.synod`). */
const NAMESPACE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/;
/** Endpoint names may not start with `_`: those names are reserved for Synod's own subjects. */
const ENDPOINT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const Namespace = z.string().regex(NAMESPACE, 'expected a namespace: 1-4 dot-separated tokens of letters, digits, _ or -');
export const ServiceName = z.string().regex(TOKEN, 'expected a service name: 1-64 letters, digits, _ or -');
export const WorkerId = z.string().regex(TOKEN, 'expected a worker id: 1-64 letters, digits, _ or -');
export const NodeIdSchema = z.string().regex(TOKEN, 'expected a node id: 1-64 letters, digits, _ or -');
export const EndpointName = z
  .string()
  .regex(ENDPOINT, 'expected an endpoint name: 1-64 letters, digits, _ or -, not starting with _');

function check(schema: z.ZodType<string>, value: string, what: string): string {
  const result = schema.safeParse(value);
  if (!result.success) throw new TypeError(`invalid ${what} for a subject: ${JSON.stringify(value)}`);
  return value;
}

/**
 * The reply-subject prefix of a NATS user: `_INBOX.<user>`. Each user may subscribe only under its
 * own prefix (infra/nats/auth.conf), so no client can listen on another's replies or watch events.
 * Without a user, nats.js's default `_INBOX`.
 */
export function inboxPrefixFor(user: string | undefined): string {
  return user === undefined || user === '' ? '_INBOX' : `_INBOX.${user}`;
}

export const subjects = {
  registryAnnounce: (ns: string) => `${check(Namespace, ns, 'namespace')}.registry.announce`,
  registryDeregister: (ns: string) => `${check(Namespace, ns, 'namespace')}.registry.deregister`,
  registryDiscover: (ns: string) => `${check(Namespace, ns, 'namespace')}.registry.discover`,
  /** Wildcard over all registry traffic of a namespace. */
  registryAll: (ns: string) => `${check(Namespace, ns, 'namespace')}.registry.>`,
  /** Wildcard over everything one service serves (for permissions). */
  serviceAll: (ns: string, service: string) =>
    `${check(Namespace, ns, 'namespace')}.svc.${check(ServiceName, service, 'service')}.>`,
  workerEndpoint: (ns: string, service: string, workerId: string, endpoint: string) =>
    `${check(Namespace, ns, 'namespace')}.svc.${check(ServiceName, service, 'service')}.${check(WorkerId, workerId, 'worker id')}.${check(EndpointName, endpoint, 'endpoint')}`,
  /** Consensus peer messages to one replica, whichever engine the replicas run. */
  peer: (ns: string, nodeId: string) => `${check(Namespace, ns, 'namespace')}.peer.${check(NodeIdSchema, nodeId, 'node id')}`,
  /** Wildcard over every peer message of a namespace (for permissions). */
  peerAll: (ns: string) => `${check(Namespace, ns, 'namespace')}.peer.>`,
  kvLeader: (ns: string) => `${check(Namespace, ns, 'namespace')}.kv.leader`,
  kvNode: (ns: string, nodeId: string) => `${check(Namespace, ns, 'namespace')}.kv.node.${check(NodeIdSchema, nodeId, 'node id')}`,
  kvAny: (ns: string) => `${check(Namespace, ns, 'namespace')}.kv.any`,
  kvWatch: (ns: string, nodeId: string) => `${check(Namespace, ns, 'namespace')}.kv.watch.${check(NodeIdSchema, nodeId, 'node id')}`,
  /** Wildcard over the store's whole client API (for permissions). */
  kvAll: (ns: string) => `${check(Namespace, ns, 'namespace')}.kv.>`,
  workerPing: (ns: string, service: string, workerId: string) =>
    `${check(Namespace, ns, 'namespace')}.svc.${check(ServiceName, service, 'service')}.${check(WorkerId, workerId, 'worker id')}._ping`,
  /** The lock manager's API (a queue group of every lock-manager instance). */
  lockApi: (ns: string) => `${check(Namespace, ns, 'namespace')}.lock.api`,
  /** The lock manager's admin requests (force-release); only the console's NATS user may publish it. */
  lockAdmin: (ns: string) => `${check(Namespace, ns, 'namespace')}.lock.admin`,
  /** Wildcard over everything of the lock manager (for permissions). */
  lockAll: (ns: string) => `${check(Namespace, ns, 'namespace')}.lock.>`,
};
