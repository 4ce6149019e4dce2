// A service outside the Synod workspace: the store (put, get, a watch), a lock with its fencing
// token, and a request to a worker's endpoint, through the installed packages only (synodctl's
// library entry too). Prints one JSON line of what it saw.
import { connect } from '@nats-io/transport-node';
import { LockClient } from '@synod/locks';
import { subjects, type WatchEvent } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { StoreClient } from '@synod/store-client';
import { VERSION as synodctlVersion } from '@synod/synodctl';

const namespace = process.env.SYNOD_NAMESPACE ?? 'synod';
const workerId = process.env.WORKER_ID ?? 'greeter-1';
const nc = await connect({ servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',') });
const store = new StoreClient({ nc, namespace });
const locks = new LockClient({ nc, namespace });

const watch = store.watch({ key: 'consumer/', prefix: true });
await watch.ready;
const put = await store.put('consumer/greeting', 'hello');
const kv = await store.get('consumer/greeting');
const next = await watch.next();
const event: WatchEvent | undefined = next.done ? undefined : next.value;
await watch.return();

const tokens: number[] = [];
for (let i = 0; i < 2; i++) tokens.push(await locks.withLock('consumer-job', async ({ token }) => token, { ttlMs: 5000 }));

const reply = await busRequest(nc, subjects.workerEndpoint(namespace, 'greeter', workerId, 'hello'), { name: 'Ada' }, { timeoutMs: 5000, requestId: `consumer-${process.pid}` });

process.stdout.write(`${JSON.stringify({ revision: put.revision, value: kv?.value, event: event && { type: event.type, key: event.kv.key, value: event.kv.value, revision: event.kv.modRevision }, tokens, reply, synodctlVersion })}\n`);
await locks.close();
await store.close();
await nc.close();
