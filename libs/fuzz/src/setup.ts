import { randomBytes } from 'node:crypto';
import { createInbox } from '@nats-io/transport-node';
import { subjects } from '@synod/protocol';
import { busRequest } from '@synod/service-kit';
import { StoreClient } from '@synod/store-client';
import type { FuzzContext } from './context.js';
import { DATA_KEY_PREFIX, LOCK_KEY_PREFIX, type FuzzStack } from './stack.js';

/** Writes acknowledged before the run, checked at their revisions afterwards. */
const ACKED_WRITES = 30;
/** Large values written before the run, under BIG_PREFIX (100,000 characters each). */
const BIG_VALUES = 12;
const BIG_PREFIX = 'fuzz-big/';

export interface Setup {
  ctx: FuzzContext;
  acked: { key: string; value: string; revision: number }[];
  inboxBase: string;
}

/** Writes acknowledged before the run, a compaction, a held lock and leases: the state semantic cases are written against. */
export async function prepare(stack: FuzzStack, timeoutMs: number): Promise<Setup> {
  const nc = stack.nc;
  const store = new StoreClient({ nc, namespace: stack.namespace, clientId: `fuzz-setup-${randomBytes(4).toString('hex')}`, timeoutMs: 10_000 });
  try {
    let fill = 0;
    for (let i = 0; i < 20; i++) fill = (await store.put(`fuzz-fill/${i}`, String(i))).revision;
    const compactRevision = fill - 5;
    await store.compact(compactRevision);
    // Values that together far exceed one NATS message (1.2 MB): ranges and watches over them.
    let bigFromRevision = 0;
    for (let i = 0; i < BIG_VALUES; i++) {
      const { revision } = await store.put(`${BIG_PREFIX}${String(i).padStart(2, '0')}`, String.fromCharCode(97 + i).repeat(100_000));
      if (i === 0) bigFromRevision = revision;
    }
    const acked: Setup['acked'] = [];
    for (let i = 0; i < ACKED_WRITES; i++) {
      const value = `acked-${i}-${randomBytes(4).toString('hex')}`;
      const { revision } = await store.put(`fuzz-ack/${i}`, value);
      acked.push({ key: `fuzz-ack/${i}`, value, revision });
    }
    const lockApi = subjects.lockApi(stack.namespace);
    const call = (body: unknown) => busRequest(nc, lockApi, body, { timeoutMs: 10_000, requestId: `fuzz-setup-${randomBytes(4).toString('hex')}` }) as Promise<Record<string, number>>;
    const heldLease = (await call({ type: 'session', ttlMs: 3_600_000 })).lease!;
    const ownLease = (await call({ type: 'session', ttlMs: 3_600_000 })).lease!;
    const heldToken = (await call({ type: 'acquire', name: 'fuzz-held', lease: heldLease, timeoutMs: 5000 })).token!;
    await call({ type: 'cas', key: 'fuzz-cas', expectedVersion: 0, value: '1' });
    const workers = stack.processes
      .filter((p) => Array.isArray(p.ready.endpoints) && typeof p.ready.serves === 'string')
      .map((p) => ({ id: String(p.ready.id), service: String(p.ready.serves), endpoints: (p.ready.endpoints as unknown[]).map(String) }));
    const inboxBase = `${createInbox()}.fuzz`;
    let seq = 0;
    const ctx: FuzzContext = {
      namespace: stack.namespace,
      replicaIds: stack.replicaIds,
      workers,
      inbox: (n) => `${inboxBase}.${n % 1000}`,
      clientId: `fuzz-${randomBytes(4).toString('hex')}`,
      nextSeq: () => ++seq,
      store: { compactRevision, revision: acked[acked.length - 1]!.revision, bigPrefix: BIG_PREFIX, bigFromRevision, bigCount: BIG_VALUES },
      protectedKeys: ['fuzz-ack/', 'fuzz-fill/', BIG_PREFIX, `${LOCK_KEY_PREFIX}/fuzz-held/`, `${DATA_KEY_PREFIX}/fuzz-cas`],
      lock: { heldName: 'fuzz-held', heldLease, heldToken, ownLease, casKey: 'fuzz-cas' },
      adminToken: stack.adminToken,
      apiKey: stack.apiKey,
      corsOrigin: stack.corsOrigin,
      requestTimeoutMs: timeoutMs,
      limits: {
        requestBytes: { store: 3 * 256 * 1024, lock: 384 * 1024, lockAdmin: 64 * 1024, worker: 256 * 1024, ping: 256 * 1024, registry: 64 * 1024, default: 256 * 1024 },
        natsMaxPayload: nc.info?.max_payload ?? 1024 * 1024,
        httpBodyBytes: 256 * 1024,
      },
    };
    return { ctx, acked, inboxBase };
  } finally {
    await store.close();
  }
}
