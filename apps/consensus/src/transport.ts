import { subjects } from '@synod/protocol';
import type { PeerCodec, PeerMessage } from '@synod/replog';
import { DropSummary, phases, publishPhase, type Logger, type NatsConnection, type Subscription } from '@synod/service-kit';

/**
 * Peer messages over NATS: each replica listens on `<ns>.peer.<its id>`, whichever engine it runs;
 * messages to others are published fire-and-forget (every engine tolerates loss), encoded with the
 * engine's codec. Garbage from the bus is dropped and counted, never stepped into the engine, and
 * logged as a rate-limited summary (counts per reason per interval), so a flood of it cannot fill a
 * disk.
 */
export class PeerTransport<Msg extends PeerMessage> {
  private sub: Subscription | undefined;
  private readonly peerSubjects = new Map<string, string>();
  private readonly drops: DropSummary;

  constructor(
    private readonly nc: NatsConnection,
    private readonly namespace: string,
    private readonly id: string,
    private readonly log: Logger,
    private readonly codec: PeerCodec<Msg>,
    dropLogIntervalMs?: number,
  ) {
    this.drops = new DropSummary(log, { msg: 'invalid peer messages dropped', ...(dropLogIntervalMs === undefined ? {} : { intervalMs: dropLogIntervalMs }) });
  }

  /** Peer messages dropped since start (malformed, or addressed to another node). */
  get dropped(): number {
    return this.drops.total;
  }

  /** Starts listening: every valid message for this replica goes to `onMessage`. */
  start(onMessage: (m: Msg) => void): void {
    this.sub = this.nc.subscribe(subjects.peer(this.namespace, this.id), {
      callback: (err, msg) => {
        if (err) return;
        let m: Msg;
        try {
          m = this.codec.decode(msg.data);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          this.drops.record(why, `${why} (${msg.data.length} bytes)`);
          return;
        }
        if (m.to !== this.id) {
          this.drops.record('addressed to another node', `to ${m.to}`);
          return;
        }
        if (phases.hasSubscribers) publishPhase('peer-rx', m.type, m.from);
        onMessage(m);
      },
    });
  }

  send(messages: Msg[]): void {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    for (const m of messages) {
      try {
        const bytes = this.codec.encode(m);
        if (phases.hasSubscribers) publishPhase('peer-tx', m.type, m.to);
        this.nc.publish(this.subjectOf(m.to), bytes);
      } catch (err) {
        // Too large or a closed connection: the engine resends what matters.
        this.log.warn({ err, to: m.to, type: m.type }, 'peer message not sent');
      }
    }
  }

  /** A peer's subject, checked (namespace and node id) the first time only: it is on every message's path. */
  private subjectOf(to: string): string {
    let subject = this.peerSubjects.get(to);
    if (subject === undefined) {
      subject = subjects.peer(this.namespace, to);
      this.peerSubjects.set(to, subject);
    }
    return subject;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.drops.stop();
  }
}
