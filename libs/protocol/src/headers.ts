/**
 * NATS header names carried by every request on the bus.
 *
 * The deadline travels as the remaining budget in milliseconds at send time (as gRPC's
 * `grpc-timeout` does), and the receiver turns it into a local deadline on arrival, so clocks of
 * different hosts need not agree.
 */
export const HEADERS = {
  requestId: 'synod-request-id',
  timeoutMs: 'synod-timeout-ms',
  protocolVersion: 'synod-protocol',
} as const;

/** HTTP headers of the gateway's API. */
export const HTTP_HEADERS = {
  worker: 'x-synod-worker',
  requestId: 'x-request-id',
  timeoutMs: 'x-synod-timeout-ms',
} as const;

export const PROTOCOL_VERSION = 1;
