export {
  commonEnv,
  env,
  parseConfig,
  loadConfig,
  formatConfigIssues,
  exitOnBadConfig,
  productionIssues,
  EXIT_BAD_CONFIG,
  SYNOD_ENVS,
  DEVELOPMENT_SECRET_MARK,
} from './config.js';
export type { ConfigIssue, ConfigResult, SynodEnv } from './config.js';
export { createRootLogger } from './logger.js';
export type { Logger, RootLoggerOptions } from './logger.js';
export { connectNats, connectionInboxPrefix } from './nats.js';
export { inboxPrefixFor } from '@synod/protocol';
export { natsAuthIssues, natsAuthOf, natsAuthOptions } from './nats-auth.js';
export type { NatsAuth } from './nats-auth.js';
export type { Bus, NatsConnection, Msg, MsgHdrs, Subscription } from './nats.js';
export { createMetricsRegistry, Counter, Gauge, Histogram, LabelBound, Registry, UNKNOWN_LABEL_VALUE } from './metrics.js';
export { startOpsServer } from './ops-server.js';
export { httpServerInfo, routesOf, trackRoutes } from './http-routes.js';
export type { HttpRoute, HttpServerInfo } from './http-routes.js';
export type { OpsRoutes, OpsServer, ReadinessCheck } from './ops-server.js';
export { EndpointServer, requestHeaders } from './endpoint-server.js';
export type { EndpointSpec, EndpointServerOptions, RequestContext, Outcome } from './endpoint-server.js';
export { busRequest, mapRequestError } from './bus-request.js';
export type { BusRequestOptions } from './bus-request.js';
export { BusRequester, sharedRequester } from './bus-requester.js';
export { runService } from './lifecycle.js';
export type { ServiceContext, ServiceDefinition, StartedService, CommonConfig } from './lifecycle.js';
export { HeapTrimPolicy, startHeapTrimmer, compactHeap, DEFAULT_HEAP_TRIM } from './heap-trim.js';
export type { HeapTrimOptions, HeapSample, HeapTrimmer, HeapTrimAction } from './heap-trim.js';
export { PHASES_CHANNEL, phases, publishPhase } from './phases.js';
export { DropSummary, normalizeReason } from './drop-summary.js';
export type { DropSummaryOptions } from './drop-summary.js';
export type { PhaseEvent } from './phases.js';
