import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  DEFAULT_MAX_REQUEST_BYTES,
  HEADERS,
  SynodError,
  toSynodError,
  type ErrorEnvelope,
} from '@synod/protocol';
import type { Logger } from 'pino';
import { DropSummary } from './drop-summary.js';
import { phases, publishPhase } from './phases.js';

/** What a handler learns about the request besides its validated input. */
export interface RequestContext {
  requestId: string;
  /** Absolute local deadline (ms since epoch, by this process's clock). */
  deadline: number;
  /** Aborted when the deadline passes; long handlers should stop then. */
  signal: AbortSignal;
  log: Logger;
}

export interface EndpointSpec<I extends z.ZodType, O> {
  subject: string;
  /** NATS queue group; omit for every subscriber to receive each request. */
  queue?: string;
  input: I;
  handler: (input: z.output<I>, ctx: RequestContext) => Promise<O> | O;
  /** Largest request accepted, in bytes (default 256 KiB). */
  maxRequestBytes?: number;
  /** Used when the request carries no `synod-timeout-ms` header, in milliseconds. */
  defaultTimeoutMs?: number;
}

export type Outcome = 'ok' | 'error';

export interface EndpointServerOptions {
  nc: NatsConnection;
  log: Logger;
  /** Called once per answered request, for metrics. */
  onOutcome?: (endpoint: string, outcome: Outcome, code: string | undefined, durationMs: number) => void;
  now?: () => number;
}

const MAX_TIMEOUT_MS = 10 * 60_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Serves request/reply endpoints on NATS with the Synod contract: the input is JSON validated with
 * zod, the reply is `{ result }` or `{ error }` from the catalog, oversized, malformed or invalid
 * requests get the envelope and never throw, the deadline travels in a header, and in-flight
 * requests are tracked so `stop()` can finish them before the connection drains.
 */
export class EndpointServer {
  private readonly subs: Subscription[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly drops: DropSummary;
  private stopping = false;

  constructor(private readonly opts: EndpointServerOptions) {
    this.now = opts.now ?? Date.now;
    this.drops = new DropSummary(opts.log.child({ component: 'endpoint' }), { msg: 'requests without a reply subject dropped' });
  }

  /** Requests being handled right now. */
  get inFlight(): number {
    return this.inflight.size;
  }

  add<I extends z.ZodType, O>(name: string, spec: EndpointSpec<I, O>): void {
    const log = this.opts.log.child({ component: 'endpoint', endpoint: name });
    const sub = this.opts.nc.subscribe(spec.subject, {
      ...(spec.queue === undefined ? {} : { queue: spec.queue }),
      callback: (err, msg) => {
        if (err) {
          log.error({ err }, 'subscription error');
          return;
        }
        const p = this.handle(name, spec, msg, log).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
      },
    });
    this.subs.push(sub);
  }

  /**
   * Stops taking new requests (messages already delivered are still handled), then waits for
   * in-flight handlers up to `timeoutMs`. Returns false if some were still running at the timeout.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.stopping = true;
    this.drops.stop();
    await Promise.all(this.subs.map((s) => s.drain().catch(() => undefined)));
    if (this.inflight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const finished = (async () => {
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      return true as const;
    })();
    const done = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    return done;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  private async handle<I extends z.ZodType, O>(name: string, spec: EndpointSpec<I, O>, msg: Msg, baseLog: Logger): Promise<void> {
    if (phases.hasSubscribers) publishPhase('request');
    const started = this.now();
    const requestId = msg.headers?.get(HEADERS.requestId) || `nats-${msg.sid}-${started}`;
    // The child logger, the abort signal and its timer cost more than many handlers: made on first use.
    let log: Logger | undefined;
    const reqLog = (): Logger => (log ??= baseLog.child({ reqId: requestId }));
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    let reply: { result: unknown } | ErrorEnvelope;
    let code: string | undefined;
    try {
      const input = this.decode(spec, msg);
      const timeoutMs = parseTimeout(msg.headers?.get(HEADERS.timeoutMs), spec.defaultTimeoutMs ?? 30_000);
      const deadline = started + timeoutMs;
      const now = this.now;
      const ctx: RequestContext = {
        requestId,
        deadline,
        get signal(): AbortSignal {
          if (!controller) {
            const c = (controller = new AbortController());
            const left = deadline - now();
            if (left <= 0) c.abort(new SynodError('DEADLINE_EXCEEDED', `deadline of ${timeoutMs} ms passed`));
            else timer = setTimeout(() => c.abort(new SynodError('DEADLINE_EXCEEDED', `deadline of ${timeoutMs} ms passed`)), left);
          }
          return controller.signal;
        },
        get log(): Logger {
          return reqLog();
        },
      };
      try {
        if (timeoutMs <= 0) throw new SynodError('DEADLINE_EXCEEDED', 'the request arrived after its deadline');
        const result = await spec.handler(input, ctx);
        reply = { result };
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      const e = toSynodError(err);
      if (e.code === 'INTERNAL') reqLog().error({ err }, 'handler failed');
      else if (baseLog.isLevelEnabled('debug')) reqLog().debug({ code: e.code, message: e.message }, 'request refused');
      code = e.code;
      reply = e.toEnvelope();
    }
    code = this.respond(msg, reply, log ?? baseLog) ?? code;
    // The NATS client writes in a microtask: one turn puts the reply on the wire before the
    // bookkeeping below (metrics) runs.
    await Promise.resolve();
    this.opts.onOutcome?.(name, code === undefined ? 'ok' : 'error', code, this.now() - started);
  }

  private decode<I extends z.ZodType>(spec: EndpointSpec<I, unknown>, msg: Msg): z.output<I> {
    const max = spec.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    if (msg.data.length > max) {
      throw new SynodError('PAYLOAD_TOO_LARGE', `request of ${msg.data.length} bytes exceeds the limit of ${max} bytes`, {
        details: { limitBytes: max, sizeBytes: msg.data.length },
      });
    }
    let json: unknown;
    try {
      json = msg.data.length === 0 ? undefined : JSON.parse(decoder.decode(msg.data));
    } catch (err) {
      throw new SynodError('BAD_REQUEST', `request is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = spec.input.safeParse(json);
    if (!parsed.success) {
      throw new SynodError('BAD_REQUEST', `invalid request: ${z.prettifyError(parsed.error)}`, {
        details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    return parsed.data;
  }

  /** Sends the reply; returns the error code sent instead when the reply could not go as it was. */
  private respond(msg: Msg, body: unknown, log: Logger): string | undefined {
    if (!msg.reply) {
      this.drops.record('no reply subject', msg.subject);
      return undefined;
    }
    try {
      let bytes = encoder.encode(JSON.stringify(body));
      let code: string | undefined;
      const limit = this.opts.nc.info?.max_payload;
      if (limit !== undefined && bytes.length > limit) {
        // The answer asked for does not fit one bus message (a range over large values): the
        // caller is told so, as it is told of a request too large, and may ask for less.
        const e = new SynodError('PAYLOAD_TOO_LARGE', `the reply of ${bytes.length} bytes exceeds the bus's ${limit}-byte message limit: ask for less (a limit, a narrower prefix)`, {
          details: { replyBytes: bytes.length, limitBytes: limit },
        });
        bytes = encoder.encode(JSON.stringify(e.toEnvelope()));
        code = e.code;
      }
      if (phases.hasSubscribers) publishPhase('reply');
      msg.respond(bytes);
      return code;
    } catch (err) {
      log.error({ err }, 'could not send the reply');
      try {
        msg.respond(encoder.encode(JSON.stringify(new SynodError('INTERNAL', 'the reply could not be sent').toEnvelope())));
      } catch {
        // The connection is gone; the requester times out.
      }
      return 'INTERNAL';
    }
  }
}

function parseTimeout(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw)) throw new SynodError('BAD_REQUEST', `header ${HEADERS.timeoutMs} must be an integer, got ${JSON.stringify(raw.slice(0, 40))}`);
  return Math.min(Number(raw), MAX_TIMEOUT_MS);
}

/** Headers for an outgoing request: request id, remaining budget, protocol version. */
export function requestHeaders(requestId: string, timeoutMs: number) {
  const h = natsHeaders();
  h.set(HEADERS.requestId, requestId);
  h.set(HEADERS.timeoutMs, String(Math.max(0, Math.floor(timeoutMs))));
  h.set(HEADERS.protocolVersion, '1');
  return h;
}
