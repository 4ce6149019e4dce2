import type { NatsConnection } from '@nats-io/transport-node';
import { ReplyEnvelope, SynodError } from '@synod/protocol';
import { WireError, type LockRequestFn } from '@synod/locks';
import { mapRequestError, requestHeaders } from '@synod/service-kit';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One request to the lock manager on NATS, as `@synod/locks` sends it: the Synod headers, the
 * reply's `result`, or a WireError keeping the code and details the lock manager sent.
 */
export function natsLockRequest(nc: NatsConnection): LockRequestFn {
  return async (subject, body, opts) => {
    let data: Uint8Array;
    try {
      const msg = await nc.request(subject, encoder.encode(JSON.stringify(body)), {
        timeout: Math.max(1, opts.timeoutMs),
        headers: requestHeaders(opts.requestId, opts.timeoutMs),
      });
      data = msg.data;
    } catch (err) {
      throw mapRequestError(err, subject, opts.timeoutMs);
    }
    let reply;
    try {
      reply = ReplyEnvelope.safeParse(JSON.parse(decoder.decode(data)));
    } catch {
      throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not JSON`);
    }
    if (!reply.success) throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not a Synod envelope`);
    if ('error' in reply.data) {
      const e = reply.data.error;
      throw new WireError(e.code, e.message, e.retryable, e.details);
    }
    return reply.data.result;
  };
}
