// The floor of a separate lock service, for `bench/locks.ts`: a process that answers the lock API
// with no lock logic — no line, no waiting, no fencing checks beyond the store's compare — and
// sends the store the same transactions the lock manager sends for an uncontended acquire
// (create the key on the session lease and read the newest two keys of the name) and a release
// (compare-and-delete on the token), through @synod/store-client, over one NATS connection like a
// lock manager. It serves `<SYNOD_NAMESPACE>.lock.api` and talks to the store of STORE_NAMESPACE,
// so a LockClient pointed at SYNOD_NAMESPACE goes through it while the real lock managers serve
// the store's own namespace beside it.
//
// Run by bench/locks-synod.ts with Node's type stripping (the workspace packages built).
import { LockRequest, Namespace, SynodError, subjects, type AcquireResult, type LockSessionResult } from '@synod/protocol';
import { EndpointServer, env, runService } from '@synod/service-kit';
import { StoreClient } from '@synod/store-client';

const PREFIX = 'locks';
const REPLY_MARGIN_MS = 50;

await runService({
  service: 'lock-forwarder',
  env: {
    STORE_NAMESPACE: env.of(Namespace),
  },
  async start({ config, instanceId, log, bus }) {
    const store = new StoreClient({
      nc: bus.nc,
      namespace: config.STORE_NAMESPACE,
      clientId: `lock-forwarder-${instanceId}`,
      attemptTimeoutMs: 1000,
      validateRequests: false,
    });
    const endpoints = new EndpointServer({ nc: bus.nc, log });
    endpoints.add('lock', {
      subject: subjects.lockApi(config.SYNOD_NAMESPACE),
      queue: 'lock-forwarder',
      input: LockRequest,
      maxRequestBytes: 384 * 1024,
      defaultTimeoutMs: 10_000,
      handler: async (req, ctx) => {
        const call = { signal: ctx.signal, timeoutMs: Math.max(1, ctx.deadline - Date.now() - REPLY_MARGIN_MS) };
        switch (req.type) {
          case 'session':
            return store.leaseGrant(req.ttlMs, call).then((r): LockSessionResult => ({ lease: r.id, ttlMs: r.ttlMs }));
          case 'keepAlive':
            return store.leaseKeepAliveOnce(req.lease, call).then((r): LockSessionResult => ({ lease: r.id, ttlMs: r.ttlMs }));
          case 'revoke':
            return store.leaseRevoke(req.lease, call).then(() => ({ revoked: true }));
          case 'acquire': {
            const namePrefix = `${PREFIX}/${req.name}/`;
            const key = `${namePrefix}${req.mode}/${req.lease}`;
            const t = await store.txn(
              {
                compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
                success: [
                  { op: 'put', key, value: JSON.stringify({ mode: req.mode }), lease: req.lease },
                  { op: 'range', key: namePrefix, prefix: true, sortBy: 'createRevision', order: 'desc', limit: 2, keysOnly: true },
                ],
                failure: [],
              },
              call,
            );
            if (!t.succeeded) throw new SynodError('CONFLICT', `${key} exists: the forwarder serves uncontended locks only`, { retryable: false });
            const result: AcquireResult = { name: req.name, mode: req.mode, lease: req.lease, token: t.revision, key };
            return result;
          }
          case 'release': {
            const key = `${PREFIX}/${req.name}/${req.mode ?? 'mutex'}/${req.lease}`;
            const t = await store.txn({ compare: [{ key, target: 'createRevision', op: '=', value: req.token }], success: [{ op: 'delete', key }], failure: [] }, call);
            return { released: t.succeeded };
          }
          default:
            throw new SynodError('BAD_REQUEST', `the forwarder serves session, keepAlive, revoke, acquire and release, not ${req.type}`, { retryable: false });
        }
      },
    });
    return {
      ready: { serves: 'lock (forwarder)', store: config.STORE_NAMESPACE },
      stop: async () => {
        await endpoints.stop(config.SHUTDOWN_TIMEOUT_MS);
        await store.close();
      },
    };
  },
});
