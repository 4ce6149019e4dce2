import type { FuzzContext } from '../src/context.js';

/** A fuzz context as the runner builds it, with made-up values. */
export function context(): FuzzContext {
  let seq = 0;
  return {
    namespace: 'fz',
    replicaIds: ['n1', 'n2', 'n3'],
    workers: [{ id: 'w1', service: 'sample', endpoints: ['echo', 'hash', 'sleep'] }],
    inbox: (n) => `_INBOX.test.${n}`,
    clientId: 'fuzz-test',
    nextSeq: () => ++seq,
    store: { compactRevision: 15, revision: 50, bigPrefix: 'fuzz-big/', bigFromRevision: 21, bigCount: 12 },
    protectedKeys: ['fuzz-ack/', 'fuzz-big/', 'locks/fuzz-held/', 'objects/fuzz-cas'],
    lock: { heldName: 'fuzz-held', heldLease: 3, heldToken: 40, ownLease: 4, casKey: 'fuzz-cas' },
    adminToken: 'token',
    apiKey: 'key',
    corsOrigin: 'https://app.example.com',
    requestTimeoutMs: 1500,
    limits: { requestBytes: { store: 1000, lock: 1000, lockAdmin: 1000, worker: 1000, ping: 1000, registry: 1000, default: 1000 }, natsMaxPayload: 4000, httpBodyBytes: 2000 },
  };
}
