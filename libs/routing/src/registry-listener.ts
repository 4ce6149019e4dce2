import { RegistryMessage, SynodError, subjects, type RegistryDiscover } from '@synod/protocol';
import { Counter, DropSummary, type Logger, type NatsConnection, type Registry, type Subscription } from '@synod/service-kit';
import { z } from 'zod';
import type { RegistryChange, WorkerRegistry } from './registry.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Registry messages are small; anything bigger is refused before parsing. */
const MAX_REGISTRY_MESSAGE_BYTES = 64 * 1024;

export interface RegistryListenerOptions {
  nc: NatsConnection;
  registry: WorkerRegistry;
  namespace: string;
  gatewayId: string;
  sweepIntervalMs: number;
  log: Logger;
  now?: () => number;
  onChange?: (change: RegistryChange) => void;
  /** Where the count of ignored messages goes (`<prefix>_registry_invalid_total`); none without it. */
  metrics?: { registry: Registry; prefix: string };
  /** How often ignored messages are summed up in the log (DropSummary's interval). */
  dropLogIntervalMs?: number;
}

/**
 * Feeds the registry from `<ns>.registry.>`: announces and heartbeats add or refresh workers,
 * deregisters remove them, and a sweep every `sweepIntervalMs` drops workers whose heartbeats
 * stopped. One wildcard subscription keeps a worker's messages in the order it sent them. On start
 * it publishes a discover, so every live worker announces itself to this gateway at once.
 */
export class RegistryListener {
  private sub: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly drops: DropSummary;
  private readonly invalid: Counter | undefined;

  constructor(private readonly opts: RegistryListenerOptions) {
    this.invalid = opts.metrics
      ? new Counter({ name: `${opts.metrics.prefix}_registry_invalid_total`, help: 'Registry messages ignored because they were malformed', registers: [opts.metrics.registry] })
      : undefined;
    this.log = opts.log.child({ component: 'registry' });
    this.now = opts.now ?? Date.now;
    this.drops = new DropSummary(this.log, {
      msg: 'invalid registry messages ignored',
      ...(opts.dropLogIntervalMs === undefined ? {} : { intervalMs: opts.dropLogIntervalMs }),
    });
  }

  async start(): Promise<void> {
    const { nc, namespace } = this.opts;
    this.sub = nc.subscribe(subjects.registryAll(namespace), { callback: (err, msg) => {
      if (err) {
        this.log.error({ err }, 'registry subscription error');
        return;
      }
      this.handle(msg.subject, msg.data, msg.reply ? (body) => msg.respond(encoder.encode(JSON.stringify(body))) : undefined);
    } });
    this.sweeper = setInterval(() => {
      for (const change of this.opts.registry.sweep(this.now())) this.report(change);
    }, this.opts.sweepIntervalMs);
    // The subscription must reach the server before workers answer the discover.
    await nc.flush();
    const discover: RegistryDiscover = { type: 'discover', v: 1, from: this.opts.gatewayId };
    nc.publish(subjects.registryDiscover(namespace), encoder.encode(JSON.stringify(discover)));
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sub?.unsubscribe();
    this.drops.stop();
  }

  /** Applies one registry message; malformed ones are logged and counted, never thrown. */
  handle(subject: string, data: Uint8Array, respond?: (body: unknown) => void): void {
    const refuse = (error: SynodError): void => {
      this.invalid?.inc();
      this.drops.record(`${error.code}: ${error.message}`, `${subject}: ${error.message}`);
      respond?.(error.toEnvelope());
    };
    if (data.length > MAX_REGISTRY_MESSAGE_BYTES) {
      refuse(new SynodError('PAYLOAD_TOO_LARGE', `registry message of ${data.length} bytes exceeds ${MAX_REGISTRY_MESSAGE_BYTES}`));
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(data));
    } catch {
      refuse(new SynodError('BAD_REQUEST', 'registry message is not JSON'));
      return;
    }
    const parsed = RegistryMessage.safeParse(json);
    if (!parsed.success) {
      refuse(new SynodError('BAD_REQUEST', `invalid registry message: ${z.prettifyError(parsed.error)}`));
      return;
    }
    const msg = parsed.data;
    const expected = subjects.registryAll(this.opts.namespace).slice(0, -1);
    const kind = subject.slice(expected.length);
    if ((msg.type === 'deregister' && kind !== 'deregister') || ((msg.type === 'announce' || msg.type === 'heartbeat') && kind !== 'announce')) {
      refuse(new SynodError('BAD_REQUEST', `a ${msg.type} message does not belong on ${subject}`));
      return;
    }
    let change: RegistryChange | undefined;
    switch (msg.type) {
      case 'announce':
      case 'heartbeat':
        change = this.opts.registry.upsert(msg, this.now());
        break;
      case 'deregister':
        change = this.opts.registry.remove(msg.id, 'deregistered');
        break;
      case 'discover':
        // Another gateway starting: the workers answer it, not us.
        break;
    }
    if (change) this.report(change);
  }

  private report(change: RegistryChange): void {
    const w = change.worker;
    this.log.info({ worker: w.id, service: w.service, weight: w.weight, reason: change.reason }, change.kind === 'joined' ? 'worker joined' : 'worker left');
    this.opts.onChange?.(change);
  }
}
