import { join } from 'node:path';
import { AppProcess } from './process.js';
import { appScript } from './paths.js';

export interface ReplicaOptions {
  natsUrl: string;
  namespace: string;
  /** Node ids of the initial voters (every replica gets the same PEERS). */
  ids: string[];
  /** Each replica's DATA_DIR is `<dataRoot>/<id>`. */
  dataRoot: string;
  /** Fast test timing by default: 20 ms ticks. */
  env?: Record<string, string>;
}

/** The environment of one consensus replica in a test cluster. */
export function replicaEnv(o: ReplicaOptions, id: string): Record<string, string> {
  return {
    NATS_URL: o.natsUrl,
    SYNOD_NAMESPACE: o.namespace,
    NODE_ID: id,
    PEERS: o.ids.join(','),
    DATA_DIR: join(o.dataRoot, id),
    TICK_MS: '20',
    LOG_LEVEL: 'warn',
    // The consensus engine follows the caller's ENGINE (raft unless set), so a suite can run on either.
    ENGINE: process.env.ENGINE ?? 'raft',
    ...o.env,
  };
}

/** Starts one real consensus replica process per id and waits for each ready line. */
export async function startReplicas(o: ReplicaOptions): Promise<AppProcess[]> {
  const started = await Promise.all(
    o.ids.map((id) => AppProcess.start({ name: `consensus-${id}`, script: appScript('consensus'), env: replicaEnv(o, id) })),
  );
  return started.map((s) => s.app);
}
