import { describe, expect, it } from 'vitest';
import { subjects } from '@synod/protocol';
import { createMetricsRegistry, createRootLogger, startOpsServer } from '@synod/service-kit';
import { builderParams, deriveRouteTargets, deriveSubjectTargets, subjectMatches, SUBJECT_ROLES, type SubjectRole } from '../src/index.js';

const names = (d: { missing: { name: string; reason: string }[] }) => d.missing.map((m) => `${m.name}: ${m.reason}`);

describe('every subject builder of @synod/protocol is fuzzed', () => {
  it('has a target of its own, or is a wildcard covered by builders that have one', () => {
    const d = deriveSubjectTargets();
    expect(names(d)).toEqual([]);
    const all = [...d.targets.map((t) => t.name), ...d.covered.map((c) => c.name)].sort();
    expect(all).toEqual(Object.keys(subjects).map((n) => `subject ${n}`).sort());
  });

  it('classifies the peer subject as peer (malformed frames only) and nothing else', () => {
    const peer = deriveSubjectTargets().targets.filter((t) => t.role === 'peer');
    expect(peer.map((t) => subjects[t.builder] as (...a: string[]) => string).map((b) => b('ns', 'n1'))).toEqual([subjects.peer('ns', 'n1')]);
  });

  it('names a new builder that has no role', () => {
    const d = deriveSubjectTargets({ ...subjects, gatewayStats: (ns: string) => `${ns}.gateway.stats` });
    expect(names(d)).toEqual([expect.stringMatching(/^subject gatewayStats: subject builder has no fuzz target/)]);
  });

  it('names a parameter the fuzzer has no values for', () => {
    const roles: Record<string, SubjectRole> = { ...SUBJECT_ROLES, tenantApi: { role: 'request' } };
    const d = deriveSubjectTargets({ ...subjects, tenantApi: (ns: string, tenant: string) => `${ns}.tenant.${tenant}` }, roles);
    expect(names(d)).toEqual([expect.stringMatching(/^subject tenantApi: parameter `tenant` has no fuzz vocabulary/)]);
  });

  it('refuses a covered-by entry that is not a wildcard, or whose builders it does not match', () => {
    const base = { kvLeader: subjects.kvLeader, lockApi: subjects.lockApi };
    const notWildcard = deriveSubjectTargets({ ...base, kvAll: subjects.kvLeader }, { kvLeader: { role: 'request' }, lockApi: { role: 'request' }, kvAll: { coveredBy: ['kvLeader'] } });
    expect(names(notWildcard)).toEqual([expect.stringMatching(/^subject kvAll: .* is not a wildcard/)]);
    const wrong = deriveSubjectTargets({ ...base, kvAll: subjects.kvAll }, { kvLeader: { role: 'request' }, lockApi: { role: 'request' }, kvAll: { coveredBy: ['lockApi'] } });
    expect(names(wrong)).toEqual([expect.stringMatching(/^subject kvAll: covered-by entry is wrong: lockApi builds .*, which .* does not match/)]);
    const uncovered = deriveSubjectTargets({ ...base, kvAll: subjects.kvAll }, { kvLeader: { role: 'request' }, lockApi: { role: 'request' }, kvAll: { role: 'request' } });
    expect(names(uncovered)).toEqual([expect.stringMatching(/^subject kvAll: builds the wildcard/)]);
  });

  it('reads builder parameters and matches NATS wildcards', () => {
    expect(builderParams(subjects.workerEndpoint as (...a: string[]) => string)).toEqual(['ns', 'service', 'workerId', 'endpoint']);
    expect(builderParams(((ns: string) => ns) as (...a: string[]) => string)).toEqual(['ns']);
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
  });
});

describe('every HTTP route is fuzzed', () => {
  it('the ops server every app runs: each route has a target, and so has its not-found handler', async () => {
    const ops = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      checks: [],
      registry: createMetricsRegistry({ service: 't', instance: 't' }),
      log: createRootLogger({ service: 't', instance: 't', level: 'silent' }),
    });
    try {
      const d = deriveRouteTargets([ops.info]);
      expect(names(d)).toEqual([]);
      expect(d.targets.map((t) => t.name)).toEqual([...ops.info.routes.map((r) => `ops ${r}`), 'ops ANY /fuzz-no-route/:service/:endpoint']);
    } finally {
      await ops.close();
    }
  });

  it('names a route whose parameter it cannot fill', () => {
    const d = deriveRouteTargets([{ server: 'api', routes: ['GET /v1/leases/:lease', 'GET /files/*/raw', 'GET /v1/x/:id(^\\d+)', 'POST /v1/services/:service/:endpoint'] }]);
    expect(names(d)).toEqual([
      expect.stringMatching(/^api GET \/v1\/leases\/:lease: parameter `:lease` has no fuzz vocabulary/),
      expect.stringMatching(/^api GET \/files\/\*\/raw: wildcard segment `\*` \(only a whole last segment/),
      'api GET /v1/x/:id(^\\d+): parameter `:id(^\\d+)` (a pattern the fuzzer cannot fill)',
    ]);
    expect(d.targets.map((t) => t.name)).toEqual(['api POST /v1/services/:service/:endpoint', 'api ANY /fuzz-no-route/:service/:endpoint']);
  });

  it('fills a trailing wildcard (a catch-all route) with a path', () => {
    const d = deriveRouteTargets([{ server: 'api', routes: ['OPTIONS *', 'GET /files/*'] }]);
    expect(names(d)).toEqual([]);
    expect(d.targets.map((t) => [t.name, t.params])).toEqual([
      ['api OPTIONS *', [{ name: '*', kind: 'path' }]],
      ['api GET /files/*', [{ name: '*', kind: 'path' }]],
      ['api ANY /fuzz-no-route/:service/:endpoint', [{ name: 'service', kind: 'service' }, { name: 'endpoint', kind: 'endpoint' }]],
    ]);
  });
});
