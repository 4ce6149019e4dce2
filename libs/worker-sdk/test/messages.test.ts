import { describe, expect, it } from 'vitest';
import { RegistryMessage, WorkerAnnounce } from '@synod/protocol';
import { announceMessage, deregisterMessage, type WorkerIdentity } from '../src/index.js';

const who: WorkerIdentity = {
  id: 'w1',
  service: 'calc',
  version: '1.2.3',
  weight: 3,
  endpoints: ['add', 'wait'],
  idempotent: ['add'],
  maxConcurrency: 8,
  heartbeatIntervalMs: 250,
};

describe('registry messages', () => {
  it('an announce carries identity, idempotent endpoints, the limit and the load, and passes the protocol schema', () => {
    const msg = announceMessage('heartbeat', who, { inFlight: 2, served: 10, errors: 1, ewmaMs: 4.5 });
    expect(WorkerAnnounce.parse(msg)).toEqual(msg);
    expect(msg).toEqual({
      type: 'heartbeat',
      v: 1,
      id: 'w1',
      service: 'calc',
      version: '1.2.3',
      weight: 3,
      endpoints: ['add', 'wait'],
      idempotent: ['add'],
      maxConcurrency: 8,
      heartbeatIntervalMs: 250,
      load: { inFlight: 2, served: 10, errors: 1, ewmaMs: 4.5 },
    });
  });

  it('leaves out what the worker did not declare', () => {
    const { version: _v, maxConcurrency: _m, ...bare } = who;
    const msg = announceMessage('announce', { ...bare, idempotent: [] }, { inFlight: 0, served: 0, errors: 0 });
    expect(msg).not.toHaveProperty('version');
    expect(msg).not.toHaveProperty('maxConcurrency');
    expect(msg.idempotent).toEqual([]);
    expect(RegistryMessage.parse(msg)).toEqual(msg);
  });

  it('a deregister names only the worker and its service', () => {
    expect(RegistryMessage.parse(deregisterMessage(who))).toEqual({ type: 'deregister', v: 1, id: 'w1', service: 'calc' });
  });
});
