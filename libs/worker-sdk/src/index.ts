export { defineWorker } from './define.js';
export type {
  AnyEndpoint,
  AnyWorkerDefinition,
  ConfigOf,
  Endpoints,
  HandlerContext,
  RunningWorker,
  SetupContext,
  StartOptions,
  WorkerApp,
  WorkerDefinition,
} from './define.js';
export { workerEnv } from './env.js';
export type { WorkerConfig, WorkerEnvShape } from './env.js';
export { LoadTracker } from './load.js';
export { workerMetrics, type WorkerMetrics } from './metrics.js';
export type { LoadTrackerOptions } from './load.js';
export { announceMessage, deregisterMessage } from './messages.js';
export type { PingResult, WorkerIdentity } from './messages.js';
