import type { ServerResponse } from 'node:http';
import cookie from '@fastify/cookie';
import { STRATEGY_NAMES, isStrategyName } from '@synod/balancing';
import { LockName, MAX_KEY_LENGTH, MAX_VALUE_LENGTH, ServiceName, SynodError, WorkerId, toSynodError } from '@synod/protocol';
import type { Logger } from '@synod/service-kit';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ConsoleBackend } from './backend.js';
import { withRates, type ServicesView } from './gateways.js';
import { AttemptLimiter, type Session, Sessions } from './sessions.js';
import { authenticate, type ConsoleUser, UserName } from './users.js';

/** The browser app, built into the bundle (see build.mjs). */
export interface ConsoleAssets {
  html: string;
  js: string;
  css: string;
}

export interface ConsoleAppOptions {
  backend: ConsoleBackend;
  users: readonly ConsoleUser[];
  assets: ConsoleAssets;
  log: Logger;
  /** How often live views are pushed, in ms. */
  refreshMs: number;
  sessionTtlMs: number;
  /** Served over TLS: the session cookie is `Secure`. */
  secure: boolean;
  /** Login attempts allowed per user and per address in a minute. */
  loginAttemptsPerMinute: number;
  https?: { cert: Buffer; key: Buffer };
  now?: () => number;
}

const COOKIE = 'synod_session';
const CSRF_HEADER = 'x-csrf-token';
/** Live streams open at once, per session and in all. */
const MAX_STREAMS_PER_SESSION = 8;
const MAX_STREAMS = 256;

declare module 'fastify' {
  interface FastifyRequest {
    session?: Session;
  }
}

const LoginBody = z.object({ user: UserName, password: z.string().min(1, 'expected a password').max(1024) });
const Key = z.string().min(1, 'expected a key').max(MAX_KEY_LENGTH);
const Prefix = z.string().max(MAX_KEY_LENGTH);
const KeysQuery = z.object({ prefix: Prefix.default(''), after: Key.optional(), limit: z.coerce.number().int().min(1).max(500).default(50) });
const KeyQuery = z.object({ key: Key });
const PutBody = z.object({ key: Key, value: z.string().max(MAX_VALUE_LENGTH) });
const DeleteBody = z.object({ key: Key });
const LeaseParams = z.object({ id: z.coerce.number().int().positive() });
const LocksQuery = z.object({ after: LockName.optional(), limit: z.coerce.number().int().min(1).max(200).default(50) });
/** `confirm` must repeat the lock's name: the page asks for it before sending. */
const ForceReleaseBody = z
  .object({ name: LockName, token: z.int().positive(), confirm: z.string().max(200) })
  .refine((b) => b.confirm === b.name, { message: 'confirm must repeat the lock name', path: ['confirm'] });
/** `from`: the first revision to deliver (the page's listing revision + 1, so nothing falls between the two). No prefix: every key. */
const WatchQuery = z.object({ prefix: Prefix.default(''), from: z.coerce.number().int().positive().optional() });
/** `confirm` repeats the service or worker: the page sends it once the admin has confirmed. */
const StrategyBody = z
  .object({
    service: ServiceName,
    strategy: z.string().refine(isStrategyName, { message: `expected one of ${STRATEGY_NAMES.join(', ')}` }).nullable(),
    confirm: z.string().max(200),
  })
  .refine((b) => b.confirm === b.service, { message: 'confirm must repeat the service name', path: ['confirm'] });
const WeightBody = z
  .object({ worker: WorkerId, weight: z.int().min(0).max(1000).nullable(), confirm: z.string().max(200) })
  .refine((b) => b.confirm === b.worker, { message: 'confirm must repeat the worker id', path: ['confirm'] });

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new SynodError('BAD_REQUEST', `invalid ${what}: ${z.prettifyError(r.error)}`, { details: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
  return r.data;
}

function fromFastifyError(err: unknown): SynodError {
  if (err instanceof SynodError) return err;
  const fe = err as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new SynodError('PAYLOAD_TOO_LARGE', fe.message ?? 'body too large');
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new SynodError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (content-type: application/json)');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return new SynodError('BAD_REQUEST', fe.message ?? 'bad request');
  return toSynodError(err);
}

/**
 * The console's HTTP side: the browser app, a login with server-side sessions (cookie `HttpOnly`,
 * `SameSite=Strict`, `Secure` over TLS), a CSRF token on every mutating call, admin-only changes
 * logged with who did what, and live views over Server-Sent Events. Every input is checked with zod
 * and every error is the catalog's envelope.
 */
export function buildConsoleApp(o: ConsoleAppOptions): FastifyInstance {
  const now = o.now ?? Date.now;
  const sessions = new Sessions(o.sessionTtlMs, now);
  const perUser = new AttemptLimiter(o.loginAttemptsPerMinute, 60_000, now);
  const perAddress = new AttemptLimiter(o.loginAttemptsPerMinute * 3, 60_000, now);
  const audit = o.log.child({ component: 'audit' });
  let streams = 0;
  const streamsOf = new Map<string, number>();

  const app = Fastify({ logger: false, bodyLimit: MAX_VALUE_LENGTH * 2 + 4096, ...(o.https ? { https: o.https } : {}) }) as unknown as FastifyInstance;
  void app.register(cookie);
  // JSON only: a text body is 415, not a string for the schemas to puzzle over.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, req, reply) => {
    const e = fromFastifyError(err);
    if (e.code === 'INTERNAL') o.log.error({ err, url: req.url }, 'console request failed');
    const retryAfterMs = (e.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    if (typeof retryAfterMs === 'number') void reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    void reply.code(e.httpStatus).send(e.toEnvelope());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new SynodError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`).toEnvelope());
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('x-frame-options', 'DENY');
    return payload;
  });

  // Every /api route but the login needs a session; every mutating one its CSRF token too.
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/') || req.url === '/api/login') return;
    const session = sessions.get(req.cookies[COOKIE]);
    if (!session) throw new SynodError('UNAUTHORIZED', 'log in first');
    req.session = session;
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers[CSRF_HEADER] !== session.csrf) {
      throw new SynodError('FORBIDDEN', `a change needs the session's ${CSRF_HEADER} header`);
    }
  });

  const admin = (req: FastifyRequest): Session => {
    const s = req.session!;
    if (s.role !== 'admin') throw new SynodError('FORBIDDEN', `${s.user} is a viewer: this needs the admin role`);
    return s;
  };
  const audited = <T>(req: FastifyRequest, action: string, detail: Record<string, unknown>, run: () => Promise<T>): Promise<T> => {
    const s = admin(req);
    return run().then(
      (result) => {
        audit.info({ actor: s.user, action, ...detail, at: new Date(now()).toISOString(), ok: true }, `admin ${action}`);
        return result;
      },
      (err: unknown) => {
        audit.warn({ actor: s.user, action, ...detail, at: new Date(now()).toISOString(), ok: false, code: toSynodError(err).code }, `admin ${action} failed`);
        throw err;
      },
    );
  };

  // ---- the browser app
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(o.assets.html));
  app.get('/assets/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(o.assets.js));
  app.get('/assets/app.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(o.assets.css));

  // ---- sessions
  app.post('/api/login', async (req, reply) => {
    const body = parse(LoginBody, req.body, 'login');
    const wait = Math.max(perUser.hit(`u:${body.user}`), perAddress.hit(`a:${req.ip}`));
    if (wait > 0) throw new SynodError('RATE_LIMITED', 'too many login attempts: wait a minute', { details: { retryAfterMs: wait } });
    const user = await authenticate(o.users, body.user, body.password);
    if (!user) {
      audit.warn({ actor: body.user, ip: req.ip, action: 'login', ok: false }, 'login refused');
      throw new SynodError('UNAUTHORIZED', 'wrong user or password');
    }
    const s = sessions.create(user.name, user.role);
    audit.info({ actor: user.name, ip: req.ip, action: 'login', ok: true }, 'login');
    void reply.setCookie(COOKIE, s.id, { httpOnly: true, sameSite: 'strict', secure: o.secure, path: '/', maxAge: Math.floor(o.sessionTtlMs / 1000) });
    return { user: s.user, role: s.role, csrf: s.csrf };
  });
  app.post('/api/logout', async (req, reply) => {
    sessions.destroy(req.session!.id);
    void reply.clearCookie(COOKIE, { path: '/' });
    return { ok: true };
  });
  app.get('/api/session', async (req) => ({ user: req.session!.user, role: req.session!.role, csrf: req.session!.csrf, refreshMs: o.refreshMs }));

  // ---- reads
  app.get('/api/cluster', async () => o.backend.cluster());
  app.get('/api/keys', async (req) => {
    const q = parse(KeysQuery, req.query, 'query');
    return o.backend.keys(q.prefix, q.after, q.limit);
  });
  app.get('/api/key', async (req) => o.backend.key(parse(KeyQuery, req.query, 'query').key));
  app.get('/api/leases', async () => ({ leases: await o.backend.leases() }));
  app.get('/api/locks', async (req) => {
    const q = parse(LocksQuery, req.query, 'query');
    return o.backend.locks(q.after, q.limit);
  });

  app.get('/api/services', async () => ({ ...(await o.backend.services()), strategiesAvailable: STRATEGY_NAMES }));

  // ---- changes (admin)
  app.put('/api/keys', async (req) => {
    const b = parse(PutBody, req.body, 'body');
    return audited(req, 'put', { key: b.key, bytes: b.value.length }, () => o.backend.put(b.key, b.value));
  });
  app.delete('/api/keys', async (req) => {
    const b = parse(DeleteBody, req.body, 'body');
    return audited(req, 'delete', { key: b.key }, () => o.backend.del(b.key));
  });
  app.delete('/api/leases/:id', async (req) => {
    const { id } = parse(LeaseParams, req.params, 'lease id');
    return audited(req, 'revokeLease', { lease: id }, () => o.backend.revokeLease(id));
  });
  app.post('/api/locks/force-release', async (req) => {
    const b = parse(ForceReleaseBody, req.body, 'body');
    return audited(req, 'forceRelease', { name: b.name, token: b.token }, () => o.backend.forceRelease(b.name, b.token, req.session!.user));
  });

  app.post('/api/services/strategy', async (req) => {
    const b = parse(StrategyBody, req.body, 'body');
    return audited(req, 'setStrategy', { service: b.service, strategy: b.strategy }, () => o.backend.setStrategy(b.service, b.strategy, req.session!.user));
  });
  app.post('/api/services/weight', async (req) => {
    const b = parse(WeightBody, req.body, 'body');
    return audited(req, b.weight === 0 ? 'drainWorker' : 'setWeight', { worker: b.worker, weight: b.weight }, () => o.backend.setWeight(b.worker, b.weight, req.session!.user));
  });

  // ---- live views (Server-Sent Events)
  const openStream = (req: FastifyRequest, reply: FastifyReply): { raw: ServerResponse; send(event: string, data: unknown): void; done: Promise<void>; signal: AbortSignal } => {
    const s = req.session!;
    const mine = streamsOf.get(s.id) ?? 0;
    if (mine >= MAX_STREAMS_PER_SESSION || streams >= MAX_STREAMS) throw new SynodError('OVERLOADED', 'too many live views open: close some', { details: { retryAfterMs: 5000 } });
    streams++;
    streamsOf.set(s.id, mine + 1);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-content-type-options': 'nosniff' });
    const controller = new AbortController();
    const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
    const done = new Promise<void>((resolve) => {
      const end = () => {
        if (controller.signal.aborted) return;
        controller.abort();
        clearInterval(keepAlive);
        streams--;
        const left = (streamsOf.get(s.id) ?? 1) - 1;
        if (left <= 0) streamsOf.delete(s.id);
        else streamsOf.set(s.id, left);
        resolve();
      };
      req.raw.on('close', end);
      raw.on('close', end);
    });
    return {
      raw,
      signal: controller.signal,
      done,
      send(event, data) {
        if (!controller.signal.aborted) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      },
    };
  };

  /** Runs `push` now and every `CONSOLE_REFRESH_MS` until the client goes; a failure is an `error` event. */
  const refreshing = async (stream: ReturnType<typeof openStream>, push: () => Promise<void>): Promise<void> => {
    const guarded = async () => {
      try {
        await push();
      } catch (err) {
        stream.send('error', toSynodError(err).toEnvelope().error);
      }
    };
    await guarded();
    const timer = setInterval(() => void guarded(), o.refreshMs);
    await stream.done;
    clearInterval(timer);
  };

  app.get('/api/live/cluster', async (req, reply) => {
    const stream = openStream(req, reply);
    let leader: string | null | undefined;
    await refreshing(stream, async () => {
      const view = await o.backend.cluster();
      if (leader !== undefined && view.leader !== leader) stream.send('leader', { at: view.at, from: leader, to: view.leader, term: view.term });
      leader = view.leader;
      stream.send('cluster', view);
    });
  });

  app.get('/api/live/services', async (req, reply) => {
    const stream = openStream(req, reply);
    let previous: ServicesView | undefined;
    await refreshing(stream, async () => {
      const view = withRates(previous, await o.backend.services());
      previous = view;
      stream.send('services', { ...view, strategiesAvailable: STRATEGY_NAMES });
    });
  });

  app.get('/api/live/watch', async (req, reply) => {
    const { prefix, from } = parse(WatchQuery, req.query, 'query');
    const stream = openStream(req, reply);
    void o.backend
      .watch(prefix, stream.signal, (event) => stream.send('event', event), from)
      .catch((err: unknown) => stream.send('error', toSynodError(err).toEnvelope().error))
      .finally(() => stream.raw.end());
    await stream.done;
  });

  const sweeper = setInterval(() => sessions.sweep(), 60_000);
  sweeper.unref();
  app.addHook('onClose', async () => clearInterval(sweeper));
  return app;
}
