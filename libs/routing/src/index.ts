export { WorkerRegistry, type RegistryChange, type WorkerEntry } from './registry.js';
export { Router, DEFAULT_HEDGE, isListedIdempotent, type HedgeOptions, type RetryOptions, type RouteRequest, type RouteResult, type RouterOptions } from './router.js';
export type { Attempt, RouteTransport } from './transport.js';
export { NatsTransport, resultJson } from './nats-transport.js';
export { RegistryListener, type RegistryListenerOptions } from './registry-listener.js';
export { HealthChecker, type HealthCheckerOptions } from './health-checker.js';
export { RoutingMetrics, type RejectReason, type RouterGauges, type RoutingMetricsOptions } from './metrics.js';
