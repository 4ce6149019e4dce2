import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Namespace, SynodError } from '@synod/protocol';
import { StoreClient } from '@synod/store-client';
import { LockClient, natsLockRequest, type LockRequestFn } from '@synod/locks';
import { commonEnv, inboxPrefixFor, natsAuthIssues, natsAuthOptions, parseConfig, type NatsAuth } from '@synod/service-kit';
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
  /** The NATS identity's files (--tls-ca, --tls-cert, --tls-key, --creds; env NATS_TLS_*, NATS_CREDS). */
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  creds?: string | undefined;
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
    checkNatsFiles(opts, io.env);
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

  private async connection(): Promise<NatsConnection> {
    if (this.nc) return this.nc;
    const servers = this.opts.nats.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (servers.length === 0) throw new UsageError('--nats needs at least one server URL');
    try {
      const env = this.io.env;
      this.nc = await (this.io.connect ?? ((s: string[], t: number) => defaultConnect(s, t, env, this.opts)))(servers, this.opts.timeout);
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

const FILE_FLAGS = { NATS_TLS_CA: '--tls-ca', NATS_TLS_CERT: '--tls-cert', NATS_TLS_KEY: '--tls-key', NATS_CREDS: '--creds' } as const;

/** The identity's files, checked as every app checks them: a missing, unreadable or wrong file is a usage error naming it. */
function checkNatsFiles(opts: GlobalOptions, env: Record<string, string | undefined>): void {
  const shape = { NATS_TLS_CA: commonEnv.NATS_TLS_CA, NATS_TLS_CERT: commonEnv.NATS_TLS_CERT, NATS_TLS_KEY: commonEnv.NATS_TLS_KEY, NATS_CREDS: commonEnv.NATS_CREDS };
  const parsed = parseConfig(shape, { NATS_TLS_CA: opts.tlsCa, NATS_TLS_CERT: opts.tlsCert, NATS_TLS_KEY: opts.tlsKey, NATS_CREDS: opts.creds });
  const issues = parsed.ok ? natsAuthIssues({ ...parsed.config, NATS_PASSWORD: env.NATS_PASSWORD || undefined }) : parsed.issues;
  if (issues.length > 0) {
    const flag = (v: string) => (v in FILE_FLAGS ? ` (${FILE_FLAGS[v as keyof typeof FILE_FLAGS]})` : '');
    throw new UsageError(issues.map((i) => `${i.variable}${flag(i.variable)}: ${i.expected}`).join('; '));
  }
}

/**
 * The CLI's NATS identity: a client certificate (NATS_TLS_CERT, NATS_TLS_KEY), a credentials file
 * (NATS_CREDS) or a user and password (NATS_USER, NATS_PASSWORD), over TLS when NATS_TLS_CA or a
 * certificate is given. NATS_USER names the identity: replies and watch events arrive under
 * `_INBOX.<user>`, the only inboxes the user may subscribe to.
 */
async function defaultConnect(servers: string[], timeoutMs: number, env: Record<string, string | undefined>, opts: GlobalOptions): Promise<NatsConnection> {
  const user = env.NATS_USER?.trim() || undefined;
  const auth: NatsAuth = { user, password: env.NATS_PASSWORD || undefined, tlsCa: opts.tlsCa, tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, creds: opts.creds };
  return connect({ servers, name: 'synodctl', timeout: timeoutMs, maxReconnectAttempts: -1, reconnectTimeWait: 250, inboxPrefix: inboxPrefixFor(user), ...natsAuthOptions(auth) });
}
