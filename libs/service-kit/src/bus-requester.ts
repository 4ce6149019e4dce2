import { randomBytes } from 'node:crypto';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { SynodError } from '@synod/protocol';
import { mapRequestError } from './bus-request.js';
import { connectionInboxPrefix } from './nats.js';

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: SynodError) => void;
  timer: NodeJS.Timeout;
  subject: string;
}

/**
 * Request-reply over one wildcard inbox subscription, for a hot path (the gateway's requests to
 * workers). It does what the NATS client's own muxed request does, minus the cost that client pays
 * on every successful request (it builds a `RequestError`, stack trace included, to reject a
 * promise already resolved). Replies are matched by the last token of the reply subject; a
 * no-responders status (503, empty body) rejects with NO_RESPONDERS, a missing reply with TIMEOUT.
 */
export class BusRequester {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(private readonly nc: NatsConnection) {
    // Under the connection's own inbox prefix (`_INBOX.<user>`), the only one its user may subscribe to.
    this.prefix = `${connectionInboxPrefix(nc)}.${randomBytes(12).toString('hex')}`;
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.onReply(msg) });
  }

  request(subject: string, payload: Uint8Array, opts: { timeoutMs: number; headers?: MsgHdrs }): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const token = (++this.seq).toString(36);
      const timeoutMs = Math.max(1, opts.timeoutMs);
      const timer = setTimeout(() => {
        if (this.pending.delete(token)) reject(new SynodError('TIMEOUT', `no reply on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(token, { resolve, reject, timer, subject });
      try {
        this.nc.publish(subject, payload, { reply: `${this.prefix}.${token}`, ...(opts.headers ? { headers: opts.headers } : {}) });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(token);
        reject(mapRequestError(err, subject, timeoutMs));
      }
    });
  }

  /** Rejects whatever is still waiting (SHUTTING_DOWN) and drops the subscription. */
  close(): void {
    for (const [token, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(token);
      p.reject(new SynodError('SHUTTING_DOWN', 'the NATS connection is closing'));
    }
    this.sub.unsubscribe();
  }

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length + 1);
    const p = this.pending.get(token);
    if (!p) return; // late (timed out) or a stranger's
    this.pending.delete(token);
    clearTimeout(p.timer);
    if (msg.data.length === 0 && msg.headers?.code === 503) p.reject(new SynodError('NO_RESPONDERS', `no responders on ${p.subject}`));
    else p.resolve(msg);
  }
}

const shared = new WeakMap<NatsConnection, BusRequester>();

/**
 * The BusRequester of a connection, made on first use and shared by every client on it (one inbox
 * subscription per connection, living as long as the connection).
 */
export function sharedRequester(nc: NatsConnection): BusRequester {
  let r = shared.get(nc);
  if (!r) shared.set(nc, (r = new BusRequester(nc)));
  return r;
}
