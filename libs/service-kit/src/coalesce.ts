import type { NatsConnection } from '@nats-io/transport-node';

/** The parts of nats.js's protocol handler that write coalescing replaces (not typed by nats.js). */
interface ProtocolInternals {
  outbound: { fill(buf: Uint8Array, ...payloads: Uint8Array[]): void; size(): number };
  pendingLimit: number;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  flushPending(): void;
}

const encoder = new TextEncoder();
const coalesced = new WeakSet<NatsConnection>();

/**
 * Makes a connection write what it publishes once per event-loop turn instead of once per
 * published message. nats.js flushes its outbound buffer in a microtask, so every message sent from
 * its own I/O callback (one HTTP request, one NATS message handled) costs a socket write of its
 * own; under load that write is the largest single cost of a process that forwards requests. Here
 * the flush waits for `setImmediate`, which runs right after the poll phase: everything published
 * by the callbacks of one turn leaves in one write, and the wait is the rest of the current turn.
 * The buffer is still written at once when it passes nats.js's own threshold (32 KiB).
 *
 * nats.js does not offer this as an option, so this replaces its protocol handler's
 * `sendCommand`; it checks the internals it relies on and leaves the connection untouched (returning
 * false) when they are not there.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  if (coalesced.has(nc)) return true;
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolInternals> }).protocol;
  if (
    protocol === undefined ||
    typeof protocol.sendCommand !== 'function' ||
    typeof protocol.flushPending !== 'function' ||
    typeof protocol.outbound?.fill !== 'function' ||
    typeof protocol.outbound.size !== 'function' ||
    typeof protocol.pendingLimit !== 'number'
  ) {
    return false;
  }
  const p = protocol as ProtocolInternals;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    p.flushPending();
  };
  p.sendCommand = (cmd: string | Uint8Array, ...payloads: Uint8Array[]): void => {
    p.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (p.outbound.size() >= p.pendingLimit) {
      p.flushPending();
    } else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  coalesced.add(nc);
  return true;
}
