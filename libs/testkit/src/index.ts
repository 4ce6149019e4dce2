export { seededRandom } from './prng.js';
export { freePort, uniqueNamespace } from './ports.js';
export {
  startNats,
  startNatsBinary,
  chooseNatsSource,
  findNatsBinary,
  dockerAnswers,
  DEFAULT_NATS_IMAGE,
} from './nats-server.js';
export type { NatsFixture, NatsSource, StartNatsOptions } from './nats-server.js';
export { AppProcess } from './process.js';
export type { AppProcessOptions, ExitResult, LogLine } from './process.js';
export { appScript, workspaceRoot } from './paths.js';
