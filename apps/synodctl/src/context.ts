import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Namespace, SynodError } from '@synod/protocol';
import { StoreClient } from '@synod/store-client';
import { LockClient, natsLockRequest, type LockRequestFn } from '@synod/locks';
import { inboxPrefixFor } from '@synod/service-kit';
import { UsageError } from './errors.js';

/** What the CLI touches outside itself; tests give their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** Registers a Ctrl-C handler; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void;
  /** Default: a NATS connection to the first server that answers. */
  connect?: (servers: string[], timeoutMs: number) => Promise<NatsConnection>;
  /** Replaces the NATS connection and store client altogether (tests with a fake store). */
  storeClient?: (opts: GlobalOptions) => StoreClient;
  /** Replaces the lock manager transport (tests with a fake lock manager). */
  lockRequest?: (opts: GlobalOptions) => LockRequestFn;
}

export interface GlobalOptions {
  nats: string;
  namespace: string;
  timeout: number;
  json: boolean;
}

/** One command run: the global options, the output, and a store client made on first use. */
export class CliContext {
  private nc: NatsConnection | undefined;
  private store: StoreClient | undefined;
  private locks: { client: LockClient; request: LockRequestFn } | undefined;

  constructor(
    readonly io: CliIo,
    readonly opts: GlobalOptions,
  ) {
    if (!Namespace.safeParse(opts.namespace).success) {
      throw new UsageError(`--namespace ${JSON.stringify(opts.namespace)} is not a namespace: 1-4 dot-separated tokens of letters, digits, _ or -`);
    }
  }

  get json(): boolean {
    return this.opts.json;
  }

  get timeoutMs(): number {
    return this.opts.timeout;
  }

  async client(): Promise<StoreClient> {
    if (this.store) return this.store;
    if (this.io.storeClient) return (this.store = this.io.storeClient(this.opts));
    const nc = await this.connection();
    this.store = new StoreClient({ nc, namespace: this.opts.namespace, timeoutMs: this.opts.timeout, attemptTimeoutMs: Math.min(2000, this.opts.timeout) });
    return this.store;
  }

  /**
   * A lock client (`@synod/locks`) on the same NATS connection as the store client, and its raw
   * transport (one request on `<ns>.lock.api`, for calls the client does not expose).
   */
  async lockClient(): Promise<{ client: LockClient; request: LockRequestFn }> {
    if (this.locks) return this.locks;
    const request = this.io.lockRequest ? this.io.lockRequest(this.opts) : natsLockRequest(await this.connection());
    const client = new LockClient({ namespace: this.opts.namespace, request, timeoutMs: this.opts.timeout, attemptTimeoutMs: Math.min(2000, this.opts.timeout) });
    return (this.locks = { client, request });
  }

  /** The NATS connection itself, for commands that talk to the bus directly (`gateway`). */
  bus(): Promise<NatsConnection> {
    return this.connection();
  }

  private async connection(): Promise<NatsConnection> {
    if (this.nc) return this.nc;
    const servers = this.opts.nats.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (servers.length === 0) throw new UsageError('--nats needs at least one server URL');
    try {
      const env = this.io.env;
      this.nc = await (this.io.connect ?? ((s: string[], t: number) => defaultConnect(s, t, env)))(servers, this.opts.timeout);
    } catch (err) {
      throw new SynodError('UNAVAILABLE', `cannot connect to NATS at ${servers.join(',')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return this.nc;
  }

  /** One result: pretty JSON with --json, else the human text. */
  print(value: unknown, human: string): void {
    if (this.json) this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
    else if (human !== '') this.io.stdout(human.endsWith('\n') ? human : `${human}\n`);
  }

  /** One item of a stream (watch, keep-alive): a JSON line with --json, else the human text. */
  stream(value: unknown, human: string): void {
    this.io.stdout(this.json ? `${JSON.stringify(value)}\n` : `${human}\n`);
  }

  /** A remark for people (stderr, never with --json). */
  note(text: string): void {
    if (!this.json) this.io.stderr(`${text}\n`);
  }

  async close(): Promise<void> {
    await this.locks?.client.close();
    await this.store?.close();
    if (this.nc && !this.nc.isClosed()) await this.nc.close();
  }
}

/**
 * NATS_USER / NATS_PASSWORD: credentials for servers with per-user permissions; replies and watch
 * events then arrive under `_INBOX.<user>`, the only inboxes the user may subscribe to.
 */
async function defaultConnect(servers: string[], timeoutMs: number, env: Record<string, string | undefined>): Promise<NatsConnection> {
  const user = env.NATS_USER?.trim();
  const auth = user ? { user, pass: env.NATS_PASSWORD ?? '' } : {};
  return connect({ servers, name: 'synodctl', timeout: timeoutMs, maxReconnectAttempts: -1, reconnectTimeWait: 250, inboxPrefix: inboxPrefixFor(user), ...auth });
}
