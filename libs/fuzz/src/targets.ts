import { subjects } from '@synod/protocol';

/**
 * Fuzz targets are derived, not listed: one per subject builder of `@synod/protocol` and one per
 * HTTP route a process reports in its ready line. What a builder needs to be fuzzed is its role
 * (the table below) and values for its parameters (found by their names). A builder or route the
 * derivation cannot turn into a target is reported as missing, by name, and the unit test fails.
 */

/** The request vocabularies the fuzzer knows beyond generic garbage (valid templates, semantic cases). */
export type ApiName = 'store' | 'lock' | 'lockAdmin' | 'worker' | 'ping' | 'registry';

export type SubjectBuilderName = keyof typeof subjects;

/**
 * - `request`: request/reply; every reply must be the envelope (`{ result }` or `{ error }`).
 * - `event`: published, never answered on success; garbage must be refused without harm, and a
 *   reply, if one comes, must be an error envelope.
 * - `peer`: consensus peer frames. Only malformed frames are sent (a forged well-formed peer
 *   message is a Byzantine fault, outside the failure model; NATS permissions are the guard).
 * - `coveredBy`: a wildcard used for permissions only; fuzzed through the builders it covers,
 *   each of which must produce a subject the wildcard matches.
 */
export type SubjectRole =
  | { role: 'request'; api?: ApiName }
  | { role: 'event'; api?: ApiName }
  | { role: 'peer' }
  | { coveredBy: SubjectBuilderName[] };

/** The role of every subject builder. A new builder without an entry fails the derivation test. */
export const SUBJECT_ROLES: Partial<Record<SubjectBuilderName, SubjectRole>> = {
  registryAnnounce: { role: 'event', api: 'registry' },
  registryDeregister: { role: 'event', api: 'registry' },
  registryDiscover: { role: 'event', api: 'registry' },
  registryAll: { coveredBy: ['registryAnnounce', 'registryDeregister', 'registryDiscover'] },
  serviceAll: { coveredBy: ['workerEndpoint', 'workerPing'] },
  workerEndpoint: { role: 'request', api: 'worker' },
  workerPing: { role: 'request', api: 'ping' },
  peer: { role: 'peer' },
  peerAll: { coveredBy: ['peer'] },
  kvLeader: { role: 'request', api: 'store' },
  kvNode: { role: 'request', api: 'store' },
  kvAny: { role: 'request', api: 'store' },
  kvWatch: { role: 'request', api: 'store' },
  kvAll: { coveredBy: ['kvLeader', 'kvNode', 'kvAny', 'kvWatch'] },
  lockApi: { role: 'request', api: 'lock' },
  lockAdmin: { role: 'request', api: 'lockAdmin' },
  lockAll: { coveredBy: ['lockApi', 'lockAdmin'] },
};

/**
 * What a parameter of a subject builder or an HTTP route stands for, by its name; `path` is a
 * route's trailing wildcard (`*`: the rest of the path, several segments).
 */
export type ParamKind = 'ns' | 'nodeId' | 'service' | 'workerId' | 'endpoint' | 'path';

const PARAM_KINDS: Record<string, ParamKind> = {
  ns: 'ns',
  namespace: 'ns',
  nodeId: 'nodeId',
  node: 'nodeId',
  service: 'service',
  workerId: 'workerId',
  id: 'workerId',
  endpoint: 'endpoint',
};

export interface SubjectTarget {
  kind: 'subject';
  /** `subject <builder>`. */
  name: string;
  builder: SubjectBuilderName;
  params: ParamKind[];
  role: 'request' | 'event' | 'peer';
  api?: ApiName;
}

export interface RouteTarget {
  kind: 'route';
  /** `<server> <METHOD> <url>`, e.g. `api POST /v1/services/:service/:endpoint`. */
  name: string;
  server: string;
  /** `ANY` for the server's not-found handler: any method, on paths no route serves. */
  method: string;
  url: string;
  params: { name: string; kind: ParamKind }[];
}

/** Methods sent to the not-found handler. */
export const ANY_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND'];

export type Target = SubjectTarget | RouteTarget;

export interface Missing {
  name: string;
  reason: string;
}

export interface Derivation<T> {
  targets: T[];
  /** Wildcard builders fuzzed through others: `{ name, by }`. */
  covered: { name: string; by: string[] }[];
  missing: Missing[];
}

type Builder = (...args: string[]) => string;

/** Parameter names of a builder, read from its source (`(ns, nodeId) => ...`). */
export function builderParams(fn: Builder): string[] | undefined {
  const src = Function.prototype.toString.call(fn).trim();
  const m = /^(?:async\s+)?(?:function\b[^(]*)?\(([^)]*)\)/.exec(src) ?? /^([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (!m) return undefined;
  return m[1]!
    .split(',')
    .map((p) => p.trim().replace(/[:=].*$/, '').trim())
    .filter((p) => p.length > 0);
}

/** Parameter values that every builder's checks accept: used to check wildcards against the subjects they cover. */
const SAMPLE: Record<Exclude<ParamKind, 'path'>, string> = { ns: 'fz.ns', nodeId: 'n1', service: 'svc', workerId: 'w1', endpoint: 'ep' };

/** NATS subject matching: `*` one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

const isWildcard = (subject: string): boolean => subject.split('.').some((t) => t === '*' || t === '>');

/**
 * One target per subject builder. Missing: a builder with no role, a parameter of unknown meaning,
 * a concrete builder producing a wildcard, or a `coveredBy` entry that is not a wildcard, names a
 * builder without a target of its own, or does not match what that builder produces.
 */
export function deriveSubjectTargets(
  builders: Record<string, Builder> = subjects,
  roles: Partial<Record<string, SubjectRole>> = SUBJECT_ROLES,
): Derivation<SubjectTarget> {
  const targets: SubjectTarget[] = [];
  const missing: Missing[] = [];
  const covered: { name: string; by: string[] }[] = [];
  const sampleOf = (name: string): { subject: string } | { reason: string } => {
    const fn = builders[name];
    if (!fn) return { reason: 'no such builder' };
    const names = builderParams(fn);
    if (!names) return { reason: 'its parameters cannot be read' };
    const unknown = names.filter((n) => PARAM_KINDS[n] === undefined);
    if (unknown.length > 0) return { reason: `parameter ${unknown.map((n) => `\`${n}\``).join(', ')} has no fuzz vocabulary (known: ${Object.keys(PARAM_KINDS).join(', ')})` };
    try {
      return { subject: fn(...names.map((n) => SAMPLE[PARAM_KINDS[n] as keyof typeof SAMPLE])) };
    } catch (err) {
      return { reason: `it refuses sample values: ${(err as Error).message}` };
    }
  };
  for (const name of Object.keys(builders)) {
    const role = roles[name];
    if (!role) {
      missing.push({ name: `subject ${name}`, reason: 'subject builder has no fuzz target: give it a role in SUBJECT_ROLES (libs/fuzz/src/targets.ts)' });
      continue;
    }
    const sample = sampleOf(name);
    if ('reason' in sample) {
      missing.push({ name: `subject ${name}`, reason: sample.reason });
      continue;
    }
    if ('coveredBy' in role) {
      if (!isWildcard(sample.subject)) {
        missing.push({ name: `subject ${name}`, reason: `"${sample.subject}" is not a wildcard: only wildcards may be covered by other builders` });
        continue;
      }
      const problems: string[] = [];
      for (const by of role.coveredBy) {
        const other = roles[by];
        if (!other || 'coveredBy' in other) {
          problems.push(`${by} has no target of its own`);
          continue;
        }
        const s = sampleOf(by);
        if ('reason' in s) problems.push(`${by}: ${s.reason}`);
        else if (!subjectMatches(sample.subject, s.subject)) problems.push(`${by} builds "${s.subject}", which "${sample.subject}" does not match`);
      }
      if (role.coveredBy.length === 0) problems.push('it names no builder');
      if (problems.length > 0) missing.push({ name: `subject ${name}`, reason: `covered-by entry is wrong: ${problems.join('; ')}` });
      else covered.push({ name: `subject ${name}`, by: role.coveredBy.map((b) => `subject ${b}`) });
      continue;
    }
    if (isWildcard(sample.subject)) {
      missing.push({ name: `subject ${name}`, reason: `builds the wildcard "${sample.subject}": map it with coveredBy to the builders whose subjects it matches` });
      continue;
    }
    const params = builderParams(builders[name]!)!.map((n) => PARAM_KINDS[n]!);
    targets.push({ kind: 'subject', name: `subject ${name}`, builder: name as SubjectBuilderName, params, role: role.role, ...('api' in role && role.api ? { api: role.api } : {}) });
  }
  return { targets, covered, missing };
}

/** The routes one process serves on one of its HTTP servers, as its ready line lists them (`METHOD /url`). */
export interface ServedRoutes {
  server: string;
  routes: readonly string[];
}

/**
 * One target per distinct (server, method, url). A trailing wildcard (`*`, as a catch-all route
 * such as CORS's preflight `OPTIONS *` has) is filled with a path. Missing: a route whose path has
 * a parameter of unknown meaning, a wildcard anywhere else, or a regular-expression segment the
 * fuzzer cannot fill.
 */
export function deriveRouteTargets(served: readonly ServedRoutes[]): Derivation<RouteTarget> {
  const targets = new Map<string, RouteTarget>();
  const missing = new Map<string, Missing>();
  for (const { server, routes } of served) {
    for (const route of routes) {
      const m = /^([A-Z]+) (\/.*|\*)$/.exec(route);
      const name = `${server} ${route}`;
      if (targets.has(name) || missing.has(name)) continue;
      if (!m) {
        missing.set(name, { name, reason: 'not of the form `METHOD /path`' });
        continue;
      }
      const [, method, url] = m as unknown as [string, string, string];
      const params: { name: string; kind: ParamKind }[] = [];
      const problems: string[] = [];
      const segments = url.split('/');
      for (const [i, segment] of segments.entries()) {
        if (segment === '*' && i === segments.length - 1) params.push({ name: '*', kind: 'path' });
        else if (segment.includes('*')) problems.push(`wildcard segment \`${segment}\` (only a whole last segment can be filled)`);
        else if (segment.startsWith(':')) {
          const p = segment.slice(1);
          const kind = PARAM_KINDS[p];
          if (!/^[A-Za-z_]\w*$/.test(p)) problems.push(`parameter \`${segment}\` (a pattern the fuzzer cannot fill)`);
          else if (kind === undefined) problems.push(`parameter \`${segment}\` has no fuzz vocabulary (known: ${Object.keys(PARAM_KINDS).join(', ')})`);
          else params.push({ name: p, kind });
        } else if (segment.includes(':')) problems.push(`segment \`${segment}\` mixes text and a parameter`);
      }
      if (problems.length > 0) missing.set(name, { name, reason: problems.join('; ') });
      else targets.set(name, { kind: 'route', name, server, method, url, params });
    }
  }
  // Each server's not-found handler: what answers every path and method no route serves.
  for (const server of new Set(served.map((s) => s.server))) {
    const name = `${server} ANY /fuzz-no-route/:service/:endpoint`;
    targets.set(name, { kind: 'route', name, server, method: 'ANY', url: '/fuzz-no-route/:service/:endpoint', params: [{ name: 'service', kind: 'service' }, { name: 'endpoint', kind: 'endpoint' }] });
  }
  return { targets: [...targets.values()], covered: [], missing: [...missing.values()] };
}

/** The ready line's `http` field, parsed defensively (a process that reports none serves no routes). */
export function servedRoutesOf(ready: Record<string, unknown>): (ServedRoutes & { port: number })[] {
  const http = ready.http;
  if (!Array.isArray(http)) return [];
  const out: (ServedRoutes & { port: number })[] = [];
  for (const h of http as unknown[]) {
    const e = h as { server?: unknown; port?: unknown; routes?: unknown };
    if (typeof e.server === 'string' && typeof e.port === 'number' && Array.isArray(e.routes) && e.routes.every((r) => typeof r === 'string')) {
      out.push({ server: e.server, port: e.port, routes: e.routes as string[] });
    }
  }
  return out;
}
