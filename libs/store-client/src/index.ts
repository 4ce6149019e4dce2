export { StoreClient, parseReply } from './client.js';
export type {
  CallOptions,
  ClientSubscription,
  DeleteOptions,
  GetOptions,
  PutOptions,
  RangeOptions,
  RequestFn,
  SnapshotData,
  StoreClientOptions,
  SubscribeFn,
  TxnRequest,
} from './client.js';
export { StoreWatch } from './watch.js';
export type { WatchOptions } from './watch.js';
export type { KeepAliveHandle, KeepAliveOptions } from './keepalive.js';
export { systemClock } from './clock.js';
export type { Clock } from './clock.js';
export { DEFAULT_RETRY, RETRIED_CODES, backoffMs, isRetried } from './retry.js';
export type { RetryPolicy } from './retry.js';
