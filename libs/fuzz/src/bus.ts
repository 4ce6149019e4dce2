import { connect as tcpConnect } from 'node:net';
import { errors, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { HEADERS } from '@synod/protocol';

/** What came back from one bus request. */
export type BusAnswer =
  | { kind: 'reply'; data: Uint8Array }
  /** Nobody subscribes the subject (an unknown worker or node, a leader subject during an election). */
  | { kind: 'no-responders' }
  | { kind: 'timeout' };

export interface BusSendOptions {
  requestId: string;
  /** The synod-timeout-ms header: the number (the usual case) or a fuzzed string. */
  timeoutHeader: string;
  /** How long to wait for the reply, in ms. */
  waitMs: number;
}

/** Sends one request with the Synod headers and waits for the raw reply. */
export async function busSend(nc: NatsConnection, subject: string, bytes: Uint8Array, o: BusSendOptions): Promise<BusAnswer> {
  const h = natsHeaders();
  h.set(HEADERS.requestId, o.requestId);
  h.set(HEADERS.timeoutMs, o.timeoutHeader);
  h.set(HEADERS.protocolVersion, '1');
  try {
    const msg = await nc.request(subject, bytes, { timeout: o.waitMs, headers: h });
    return { kind: 'reply', data: msg.data };
  } catch (err) {
    if (err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders())) return { kind: 'no-responders' };
    if (err instanceof errors.TimeoutError || (err instanceof Error && err.cause instanceof errors.TimeoutError)) return { kind: 'timeout' };
    throw err;
  }
}

/**
 * Publishes `size` bytes on `subject` over a raw client connection, past what the NATS client
 * library would send (it refuses anything beyond the server's max_payload locally). Resolves with
 * the server's verdict: refused (its `-ERR` line, or the connection closed on us while we wrote) or
 * accepted (it answered the PING after the message).
 */
export async function rawPublish(natsUrl: string, subject: string, size: number, timeoutMs: number): Promise<{ refused: string } | { accepted: true }> {
  const url = new URL(natsUrl);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: url.hostname, port: Number(url.port) });
    let seen = '';
    let sent = false;
    let settled = false;
    const finish = (v: { refused: string } | { accepted: true } | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const refusal = (): string | undefined => /-ERR '?([^'\r\n]*)/.exec(seen)?.[1];
    const timer = setTimeout(() => finish(new Error(`raw publish of ${size} bytes: no verdict from nats-server within ${timeoutMs} ms`)), timeoutMs);
    // Before the payload went out, an error is ours (no server); after, the server cut us off.
    socket.on('error', (err) => {
      if (!sent) finish(err);
    });
    socket.on('close', () => finish(sent ? { refused: refusal() ?? 'connection closed by nats-server' } : new Error('nats-server closed the connection before INFO')));
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!sent && seen.includes('\r\n')) {
        sent = true;
        socket.write(`CONNECT {"verbose":false,"pedantic":false,"headers":false,"name":"fuzzer-raw"}\r\nPUB ${subject} ${size}\r\n`);
        socket.write(Buffer.alloc(size, 0x20));
        socket.write('\r\nPING\r\n');
        return;
      }
      const r = refusal();
      if (r !== undefined) finish({ refused: r });
      else if (/PONG\r\n/.test(seen)) finish({ accepted: true });
    });
  });
}
