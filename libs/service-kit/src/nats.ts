import { connect, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefixFor } from '@synod/protocol';
import type { Logger } from 'pino';
import { natsAuthOptions, type NatsAuth } from './nats-auth.js';

export type { NatsConnection, Msg, MsgHdrs, Subscription } from '@nats-io/transport-node';

export interface ConnectOptions {
  servers: string[];
  /** Client name shown by the server's monitoring (`service/instance`). */
  name: string;
  log: Logger;
  /** Who the process is on the bus and how it proves it (nats-auth.ts); none = anonymous, plaintext. */
  auth?: NatsAuth;
}

/**
 * The inbox prefix a connection was opened with (nats.js keeps its options on the connection but
 * does not type them on the interface). Clients that make their own inboxes (watches) use it so
 * their subscriptions stay inside the user's permitted prefix.
 */
export function connectionInboxPrefix(nc: NatsConnection): string {
  const options = (nc as { options?: { inboxPrefix?: unknown } }).options;
  return typeof options?.inboxPrefix === 'string' && options.inboxPrefix !== '' ? options.inboxPrefix : '_INBOX';
}

/**
 * Connects to NATS, waiting for the first connection as long as it takes (so processes may start
 * before the server) and reconnecting forever afterwards. Connection events are logged.
 */
export interface Bus {
  nc: NatsConnection;
  /** True between a connect and the next disconnect (false while reconnecting and once closed). */
  isConnected(): boolean;
}

export async function connectNats(opts: ConnectOptions): Promise<Bus> {
  const log = opts.log.child({ component: 'nats' });
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    ...natsAuthOptions(opts.auth ?? {}),
    inboxPrefix: inboxPrefixFor(opts.auth?.user),
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    // No Error (with its stack) built up front for every request: a hot-path cost of several percent of CPU.
    noAsyncTraces: true,
  });
  let connected = true;
  log.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          connected = false;
          log.warn({ server: s.server }, 'disconnected from NATS');
          break;
        case 'reconnect':
          connected = true;
          log.info({ server: s.server }, 'reconnected to NATS');
          break;
        case 'error':
          log.error({ err: s.error }, 'NATS error');
          break;
        case 'slowConsumer':
          log.warn({ sub: s.sub.getSubject() }, 'slow consumer: messages dropped');
          break;
        default:
          break;
      }
    }
  })();
  return { nc, isConnected: () => connected && !nc.isClosed() && !nc.isDraining() };
}
