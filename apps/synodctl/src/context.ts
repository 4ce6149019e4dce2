import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Namespace, SynodError, inboxPrefixFor } from '@synod/protocol';
import { StoreClient } from '@synod/store-client';
import { LockClient, natsLockRequest, type LockRequestFn } from '@synod/locks';
import { commonEnv, natsAuthIssues, natsAuthOf, natsAuthOptions, parseConfig, type NatsAuth } from '@synod/service-kit';
import { UsageError } from './errors.js';
import { boxTables, fieldTable, type Table } from './format.js';

/** `-w`: `simple` for people, `json` for programs, `table` boxed as etcdctl draws them. */
export const OUTPUT_FORMATS = ['simple', 'json', 'table'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** What the CLI touches outside itself; tests give their own. The environment is process.env (commander reads it). */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Registers a Ctrl-C handler; returns a function that removes it. */
  onInterrupt(handler: () => void): () => void;
  /** Default: a NATS connection to the first server that answers, with the global credentials. */
  connect?: (servers: string[], opts: GlobalOptions) => Promise<NatsConnection>;
  /** Replaces the NATS connection and store client altogether (tests with a fake store). */
  storeClient?: (opts: GlobalOptions) => StoreClient;
  /** Replaces the lock manager transport (tests with a fake lock manager). */
  lockRequest?: (opts: GlobalOptions) => LockRequestFn;
}

export interface GlobalOptions {
  nats: string;
  /** NATS user (it also names the reply inboxes, `_INBOX.<user>`) and password, for servers with per-user permissions. */
  user?: string | undefined;
  password?: string | undefined;
  namespace: string;
  /** Budget of each request, retries included, in milliseconds. */
  timeout: number;
  output: OutputFormat;
  /** The NATS identity's files: TLS with a client certificate, or an operator-mode credentials file. */
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
  private readonly auth: NatsAuth;
  /** The status to exit with when the command succeeds (`lock exec` passes its command's on). */
  exitCode = 0;

  constructor(
    readonly io: CliIo,
    readonly opts: GlobalOptions,
  ) {
    if (!Namespace.safeParse(opts.namespace).success) {
      throw new UsageError(`--namespace ${JSON.stringify(opts.namespace)} is not a namespace: 1-4 dot-separated tokens of letters, digits, _ or -`);
    }
    this.auth = natsAuthOfOptions(opts);
  }

  get output(): OutputFormat {
    return this.opts.output;
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
    if (servers.length === 0) throw new UsageError('--nats (env NATS_URL) needs at least one server URL');
    try {
      this.nc = await (this.io.connect ?? ((s, o) => defaultConnect(s, o, this.auth)))(servers, this.opts);
    } catch (err) {
      throw new SynodError('UNAVAILABLE', `cannot connect to NATS at ${servers.join(',')}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return this.nc;
  }

  /**
   * One result: pretty JSON with `-w json`; with `-w table` the given tables (by default one row of
   * the result's fields); else the text for people.
   */
  print(value: unknown, human: string, tables?: readonly Table[]): void {
    if (this.output === 'json') this.io.stdout(`${JSON.stringify(value, null, 2)}\n`);
    else if (this.output === 'table') this.io.stdout(`${boxTables(tables ?? [fieldTable(value)])}\n`);
    else if (human !== '') this.io.stdout(human.endsWith('\n') ? human : `${human}\n`);
  }

  /** One item of a stream (watch, keep-alive): a JSON line with `-w json`, else the text (a table has no stream form, as in etcdctl). */
  stream(value: unknown, human: string): void {
    this.io.stdout(this.output === 'json' ? `${JSON.stringify(value)}\n` : `${human}\n`);
  }

  /** A remark for people (stderr, never with `-w json`). */
  note(text: string): void {
    if (this.output !== 'json') this.io.stderr(`${text}\n`);
  }

  async close(): Promise<void> {
    await this.locks?.client.close();
    await this.store?.close();
    if (this.nc && !this.nc.isClosed()) await this.nc.close();
  }
}

const FLAGS = {
  NATS_USER: '--user',
  NATS_PASSWORD: '--password',
  NATS_TLS_CA: '--tls-ca',
  NATS_TLS_CERT: '--tls-cert',
  NATS_TLS_KEY: '--tls-key',
  NATS_CREDS: '--creds',
} as const;

/**
 * The CLI's NATS identity, checked as every app checks its own (service-kit's variables): a
 * missing, unreadable or wrong file is a usage error naming its variable and flag. A client
 * certificate, a credentials file or a user and password; the user also names the identity, whose
 * replies and watch events arrive under `_INBOX.<user>`, the only inboxes it may subscribe to.
 */
function natsAuthOfOptions(opts: GlobalOptions): NatsAuth {
  const shape = {
    NATS_USER: commonEnv.NATS_USER,
    NATS_PASSWORD: commonEnv.NATS_PASSWORD,
    NATS_TLS_CA: commonEnv.NATS_TLS_CA,
    NATS_TLS_CERT: commonEnv.NATS_TLS_CERT,
    NATS_TLS_KEY: commonEnv.NATS_TLS_KEY,
    NATS_CREDS: commonEnv.NATS_CREDS,
  };
  const parsed = parseConfig(shape, {
    NATS_USER: opts.user,
    NATS_PASSWORD: opts.password,
    NATS_TLS_CA: opts.tlsCa,
    NATS_TLS_CERT: opts.tlsCert,
    NATS_TLS_KEY: opts.tlsKey,
    NATS_CREDS: opts.creds,
  });
  const issues = parsed.ok ? natsAuthIssues(parsed.config) : parsed.issues;
  if (!parsed.ok || issues.length > 0) {
    const flag = (v: string) => (v in FLAGS ? ` (${FLAGS[v as keyof typeof FLAGS]})` : '');
    throw new UsageError(issues.map((i) => `${i.variable}${flag(i.variable)}: ${i.expected}`).join('; '));
  }
  return natsAuthOf(parsed.config);
}

async function defaultConnect(servers: string[], opts: GlobalOptions, auth: NatsAuth): Promise<NatsConnection> {
  return connect({ servers, name: 'synodctl', timeout: opts.timeout, maxReconnectAttempts: -1, reconnectTimeWait: 250, inboxPrefix: inboxPrefixFor(auth.user), ...natsAuthOptions(auth) });
}
