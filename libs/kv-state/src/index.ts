export {
  KvStateMachine,
  type KvStateMachineOptions,
  type KvReadResult,
  type RangeAnswer,
  type WatchAnswer,
} from './state-machine.js';
export * from './commands.js';
export { KvSnapshotError } from './snapshot.js';
export type { KvSnapshotCapture } from './snapshot.js';
export { ReplicatedKv, kvLeases } from './replicated.js';
