import { describe, expect, it } from 'vitest';
import {
  ERROR_CATALOG,
  ERROR_CODES,
  ReplyEnvelope,
  RegistryMessage,
  SynodError,
  httpStatusOf,
  subjects,
  toSynodError,
} from './index.js';

describe('subjects', () => {
  it('puts everything under the namespace with the fixed layout', () => {
    expect(subjects.registryAnnounce('synod')).toBe('synod.registry.announce');
    expect(subjects.registryDiscover('a.b')).toBe('a.b.registry.discover');
    expect(subjects.workerEndpoint('ns', 'sample', 'w-1', 'echo')).toBe('ns.svc.sample.w-1.echo');
    expect(subjects.workerPing('ns', 'sample', 'w-1')).toBe('ns.svc.sample.w-1._ping');
    expect(subjects.serviceAll('ns', 'sample')).toBe('ns.svc.sample.>');
  });

  it.each([
    ['namespace with wildcard', () => subjects.registryAnnounce('a.*')],
    ['empty namespace', () => subjects.registryAnnounce('')],
    ['service with dot', () => subjects.serviceAll('ns', 'a.b')],
    ['worker id with space', () => subjects.workerPing('ns', 's', 'a b')],
    ['reserved endpoint name', () => subjects.workerEndpoint('ns', 's', 'w', '_ping')],
    ['endpoint with >', () => subjects.workerEndpoint('ns', 's', 'w', '>')],
  ])('refuses a %s', (_what, build) => {
    expect(build).toThrow(TypeError);
  });
});

describe('error catalog', () => {
  it('maps every code to an HTTP status and a retryable flag', () => {
    for (const code of ERROR_CODES) {
      const entry = ERROR_CATALOG[code];
      expect(entry.httpStatus).toBeGreaterThanOrEqual(400);
      expect(typeof entry.retryable).toBe('boolean');
      expect(httpStatusOf(code)).toBe(entry.httpStatus);
    }
    expect(httpStatusOf('SOMETHING_ELSE')).toBe(500);
  });

  it('round-trips an error through the envelope', () => {
    const err = new SynodError('NO_WORKERS', 'none alive', { details: { service: 's' } });
    const wire = JSON.parse(JSON.stringify(err.toEnvelope()));
    expect(wire).toEqual({ error: { code: 'NO_WORKERS', message: 'none alive', retryable: true, details: { service: 's' } } });
    const parsed = ReplyEnvelope.parse(wire);
    if (!('error' in parsed)) throw new Error('expected an error envelope');
    const back = SynodError.fromBody(parsed.error);
    expect(back.code).toBe('NO_WORKERS');
    expect(back.retryable).toBe(true);
    expect(back.httpStatus).toBe(503);
  });

  it('keeps an unknown remote code in details instead of inventing one', () => {
    const back = SynodError.fromBody({ code: 'FUTURE_CODE', message: 'm', retryable: false, details: { hint: 1 } });
    expect(back.code).toBe('INTERNAL');
    expect(back.details).toEqual({ hint: 1, remoteCode: 'FUTURE_CODE' });
  });

  it('wraps foreign errors as INTERNAL with the cause chained', () => {
    const cause = new RangeError('boom');
    const err = toSynodError(cause);
    expect(err.code).toBe('INTERNAL');
    expect(err.cause).toBe(cause);
    expect(toSynodError(err)).toBe(err);
  });
});

describe('registry messages', () => {
  const announce = {
    type: 'announce',
    v: 1,
    id: 'w1',
    service: 'sample',
    weight: 5,
    endpoints: ['echo'],
    heartbeatIntervalMs: 1000,
    load: { inFlight: 0, served: 0, errors: 0 },
  };

  it('accepts a valid announce and ignores unknown fields', () => {
    const parsed = RegistryMessage.parse({ ...announce, futureField: true });
    expect(parsed.type).toBe('announce');
    expect('futureField' in parsed).toBe(false);
  });

  it.each([
    ['negative weight', { ...announce, weight: -1 }],
    ['no endpoints', { ...announce, endpoints: [] }],
    ['unknown version', { ...announce, v: 2 }],
    ['unknown type', { ...announce, type: 'hello' }],
    ['bad id', { ...announce, id: 'a.b' }],
  ])('rejects %s', (_what, msg) => {
    expect(RegistryMessage.safeParse(msg).success).toBe(false);
  });
});

describe('consensus subjects', () => {
  it('puts peer and store traffic under the namespace', () => {
    expect(subjects.peer('ns', 'n1')).toBe('ns.peer.n1');
    expect(subjects.kvLeader('ns')).toBe('ns.kv.leader');
    expect(subjects.kvNode('ns', 'n2')).toBe('ns.kv.node.n2');
    expect(subjects.kvAny('ns')).toBe('ns.kv.any');
    expect(subjects.kvAll('ns')).toBe('ns.kv.>');
    expect(() => subjects.peer('ns', 'a.b')).toThrow(TypeError);
  });
});
