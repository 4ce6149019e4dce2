import { errors, type NatsConnection } from '@nats-io/transport-node';
import { ReplyEnvelope, SynodError } from '@synod/protocol';
import type { BusRequester } from './bus-requester.js';
import { requestHeaders } from './endpoint-server.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface BusRequestOptions {
  timeoutMs: number;
  requestId: string;
  /** Send through this requester (one inbox subscription, cheaper per request) instead of `nc.request`. */
  via?: BusRequester;
}

/**
 * Sends one request with the Synod headers and returns the `result` of the reply. Failures come
 * back as SynodError: NO_RESPONDERS (nobody subscribed: the request was not delivered, so it is
 * always safe to send elsewhere), TIMEOUT, BAD_GATEWAY (the reply is not an envelope) or the
 * error the responder sent.
 *
 * `body` is either a value to serialize or bytes already holding JSON.
 */
export async function busRequest(nc: NatsConnection, subject: string, body: unknown, opts: BusRequestOptions): Promise<unknown> {
  const payload = body instanceof Uint8Array ? body : encoder.encode(JSON.stringify(body));
  let data: Uint8Array;
  try {
    const headers = requestHeaders(opts.requestId, opts.timeoutMs);
    const msg = opts.via
      ? await opts.via.request(subject, payload, { timeoutMs: opts.timeoutMs, headers })
      : await nc.request(subject, payload, { timeout: Math.max(1, opts.timeoutMs), headers });
    data = msg.data;
  } catch (err) {
    throw err instanceof SynodError ? err : mapRequestError(err, subject, opts.timeoutMs);
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not JSON`, { cause: err });
  }
  const reply = ReplyEnvelope.safeParse(json);
  if (!reply.success) throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not a Synod envelope`);
  if ('error' in reply.data) throw SynodError.fromBody(reply.data.error);
  return reply.data.result;
}

export function mapRequestError(err: unknown, subject: string, timeoutMs: number): SynodError {
  if (err instanceof errors.RequestError && err.isNoResponders()) {
    return new SynodError('NO_RESPONDERS', `no responders on ${subject}`, { cause: err });
  }
  if (err instanceof errors.NoRespondersError) {
    return new SynodError('NO_RESPONDERS', `no responders on ${subject}`, { cause: err });
  }
  if (err instanceof errors.TimeoutError || (err instanceof Error && err.cause instanceof errors.TimeoutError)) {
    return new SynodError('TIMEOUT', `no reply on ${subject} within ${timeoutMs} ms`, { cause: err });
  }
  if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError) {
    return new SynodError('SHUTTING_DOWN', 'the NATS connection is closing', { cause: err });
  }
  if (err instanceof errors.PermissionViolationError) {
    return new SynodError('INTERNAL', `not permitted to publish on ${subject}`, { cause: err });
  }
  return new SynodError('INTERNAL', `request on ${subject} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
