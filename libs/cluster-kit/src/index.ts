export { ReplicaCluster, ENGINES, TICK_MS, ELECTION_TICKS, MAX_ELECTION_MS, ATTEMPT_TIMEOUT_MS } from './replica-cluster.js';
export { runWorkload } from './kv-workload.js';
export { LockCluster, FencedResource, SharedResource, sleep } from './lock-cluster.js';
export { runFencedWorkers, fencedViolations, serveFencedResource, remoteResource } from './fenced-workload.js';
export type { Fenced, FencedWorkers, FencedWorkersOptions } from './fenced-workload.js';
export { HolderProcess } from './lock-holder-process.js';
