import { registerCluster } from './cluster.js';
import { registerCompletion } from './completion.js';
import { registerGateway } from './gateway.js';
import { registerKv } from './kv.js';
import { registerLease } from './lease.js';
import { registerLock } from './lock.js';
import { registerSnapshot } from './snapshot.js';
import type { CommandGroup } from './types.js';
import { registerWorkers } from './workers.js';

/** Every command group, in help order. A new group is one module and one line here. */
export const commandGroups: readonly CommandGroup[] = [registerKv, registerLease, registerCluster, registerSnapshot, registerLock, registerWorkers, registerGateway, registerCompletion];
