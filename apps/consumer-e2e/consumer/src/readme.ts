import { connect } from '@nats-io/transport-node';
import { LockClient } from '@synod/locks';
import { StoreClient } from '@synod/store-client';

const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
const namespace = process.env.SYNOD_NAMESPACE ?? 'synod';
const store = new StoreClient({ nc, namespace });
const locks = new LockClient({ nc, namespace });
// Under the lock, with its fencing token: the write a resource would check.
await locks.withLock('nightly-report', ({ token }) => store.put('reports/nightly', `written under token ${token}`));
console.log((await store.get('reports/nightly'))?.value);
await locks.close();
await nc.close();
