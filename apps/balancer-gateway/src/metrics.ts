/**
 * The gateway's metrics and where they are made: the routed requests here (`proxyMetrics`), the
 * router's (libs/routing's RoutingMetrics and RegistryListener), the event-loop lag
 * (`LagMonitor`), the label bound (service-kit's LabelBound). tests/observability makes each on a
 * registry to know every name the gateway exports.
 */
export { LagMonitor } from './lag-monitor.js';
export { proxyMetrics } from './plugins/service-proxy.js';

/** The metric names of the gateway start with this. */
export const METRICS_PREFIX = 'synod_gateway';
