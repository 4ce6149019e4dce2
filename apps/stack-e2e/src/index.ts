export {
  ONLINE_DEFAULTS,
  STACK_SERVICES,
  IDENTITIES,
  repoRoot,
  findRepoRoot,
  parseDotEnv,
  readDotEnv,
  composeVariable,
  interpolate,
  natsNodeEnvironment,
  stackImages,
  stackReadiness,
  projectResources,
  orphanedProjects,
} from './stack.js';
export type { Readiness, ProjectResources, IdentityName } from './stack.js';
export { parseNatsConf, subjectMatches, natsUsers, mayPublish, maySubscribe } from './nats-conf.js';
export type { ConfValue, NatsUser } from './nats-conf.js';
