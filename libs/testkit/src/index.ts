export { seededRandom } from './prng.js';
export { freePort, uniqueNamespace } from './ports.js';
export {
  startNats,
  startNatsBinary,
  chooseNatsSource,
  findNatsBinary,
  dockerAnswers,
  DEFAULT_NATS_IMAGE,
  startNatsPair,
} from './nats-server.js';
export type { NatsFixture, NatsSource, StartNatsOptions, NatsClusterFixture } from './nats-server.js';
export { AppProcess } from './process.js';
export type { AppProcessOptions, ExitResult, LogLine } from './process.js';
export { APP_PROCESS_ENV, appScript, workspaceRoot } from './paths.js';
export { checkLinearizability, describeOperation, kvModel } from './linearizability/index.js';
export type { CheckOptions, CheckResult, KvInput, KvOutput, KvState, Model, Operation, StepResult } from './linearizability/index.js';
export { simulate, PROFILES, PROFILE_NAMES, NO_FAULTS } from './sim/index.js';
export type { SimOptions, SimResult, FaultProfile, ProfileName } from './sim/index.js';
export { TcpProxy } from './tcp-proxy.js';
export { replicaEnv, startReplicas } from './replicas.js';
export type { ReplicaOptions } from './replicas.js';
