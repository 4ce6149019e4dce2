import { subjects } from '@synod/protocol';
import type { Logger, NatsConnection, Subscription } from '@synod/service-kit';
import type { RaftMessage } from '@synod/raft';
import { decodePeerMessage, encodePeerMessage } from './peer-codec.js';

/**
 * Peer messages over NATS: each replica listens on `<ns>.raft.<its id>`; messages to others are
 * published fire-and-forget (Raft tolerates loss). Garbage from the bus is dropped and counted,
 * never stepped into the core.
 */
export class PeerTransport {
  private sub: Subscription | undefined;
  dropped = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly namespace: string,
    private readonly id: string,
    private readonly log: Logger,
    private readonly onMessage: (m: RaftMessage) => void,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(subjects.raftPeer(this.namespace, this.id), {
      callback: (err, msg) => {
        if (err) return;
        let m: RaftMessage;
        try {
          m = decodePeerMessage(msg.data);
        } catch (e) {
          this.dropped++;
          this.log.warn({ err: e, bytes: msg.data.length }, 'invalid peer message dropped');
          return;
        }
        if (m.to !== this.id) {
          this.dropped++;
          this.log.warn({ to: m.to }, 'peer message for another node dropped');
          return;
        }
        this.onMessage(m);
      },
    });
  }

  send(messages: RaftMessage[]): void {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    for (const m of messages) {
      try {
        this.nc.publish(subjects.raftPeer(this.namespace, m.to), encodePeerMessage(m));
      } catch (err) {
        // Too large or a closed connection: Raft resends what matters.
        this.log.warn({ err, to: m.to, type: m.type }, 'peer message not sent');
      }
    }
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}
