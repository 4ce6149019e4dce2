import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { HTTP_HEADERS, WatchMessage, subjects } from '@synod/protocol';
import { carries, credentialOf } from './access.js';
import { casesFor, type Expect } from './apis.js';
import { busSend, rawPublish } from './bus.js';
import type { FuzzContext } from './context.js';
import { encodeSegment, httpSend, routePath } from './http.js';
import { payloadArb, renderPayload, semanticCase, type PayloadSpec, type Rendered } from './payloads.js';
import { FrameCapture, peerInputArb, resolvePeerInput, type PeerInput, type PeerOracle } from './peer.js';
import { afterChecks, type Check } from './checks.js';
import { unsafeToSend } from './guard.js';
import { prepare } from './setup.js';
import { FuzzStack, type Engine } from './stack.js';
import { ANY_METHODS, deriveRouteTargets, deriveSubjectTargets, type ApiName, type Missing, type ParamKind, type RouteTarget, type SubjectTarget, type Target } from './targets.js';
import { judgeBusReply, judgeHttp, type Verdict } from './verdict.js';

export interface FuzzOptions {
  engines: Engine[];
  /** Fuzzing time over all engines, setup and checks not counted, in minutes. */
  minutes: number;
  seed: number;
  /** Only targets whose name contains this (replaying one target). */
  target?: string;
  /** Each engine's peer decoder (the replicas' own codec), to tell malformed frames from forged ones. */
  peerOracles: Record<Engine, PeerOracle>;
  /** The deadline every request carries, and the gateway's REQUEST_TIMEOUT_MS, in ms (default 1000). */
  requestTimeoutMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface TargetReport {
  name: string;
  /** Inputs sent. */
  inputs: number;
  /** Inputs drawn but not sent: a damaged peer frame that still decoded, a case that does not apply. */
  skipped: number;
  /** Answers by kind (`result`, an error code, `http 404 NOT_FOUND`, `published`...). */
  answers: Record<string, number>;
  /** fast-check's report: the counterexample, its seed and path. */
  failure?: string;
}

export interface EngineReport {
  engine: Engine;
  targets: TargetReport[];
  covered: { name: string; by: string[] }[];
  missing: Missing[];
  /** Processes that exited during the run. */
  crashes: { name: string; exit: string }[];
  checks: Check[];
  fuzzMs: number;
}

export interface FuzzReport {
  seed: number;
  minutes: number;
  engines: EngineReport[];
  ok: boolean;
}

/** How long past the deadline an answer may take (bus and loopback latency on a busy machine), in ms. */
export const ANSWER_MARGIN_MS = 2500;

const UNKNOWN: Record<ParamKind, string[]> = {
  ns: [],
  nodeId: ['n9', 'zz', 'n1-old'],
  service: ['fuzzsvc', 'nosuchservice', 'Sample', 'sample-'],
  workerId: ['w9', 'ghost', 'fz-0'],
  endpoint: ['nosuch', 'Echo', 'echo2'],
  path: ['fuzz-no-route', 'v1/admin/services/sample/strategy', '', 'v1', 'a/'.repeat(50)],
};
/** Path segments no parameter accepts: unicode edge cases, invalid percent-encodings, dots, long. */
const HOSTILE_SEGMENTS = ['%', '%E0%A4%A', '%00', '%ED%A0%80', '%FF', '..', '.', '%2F%2F', '%252F', '_ping', 'a'.repeat(5000), '%EF%BB%BFsample', '%E2%80%AEelpmas', 'a%00b'];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/vnd.synod+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/json; charset=utf-16',
  'multipart/form-data; boundary=x',
  'APPLICATION/JSON',
  '*/*',
  '',
];
const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 24 });
/** A fuzzed deadline header, in one input of ten. */
const headerArb = fc.oneof(
  { weight: 9, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('abc', '-1', '0', '1e3', ' 5', '99999999999999999999', '', 'NaN', '-0', '1.5', '0x10', '00000000000000000001'), printable) },
);
const pickArb = fc.record({ live: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), n: fc.nat() });
const routePickArb = fc.oneof(
  { weight: 6, arbitrary: pickArb.map((p) => ({ ...p, hostile: undefined as string | undefined })) },
  { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS).map((raw) => ({ live: false, n: 0, hostile: raw })) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map((s) => ({ live: false, n: 0, hostile: encodeSegment(s) })) },
);

type SubjectInput = { params: { live: boolean; n: number }[]; payload: PayloadSpec; header: string | undefined };
type RouteInput = {
  proc: number;
  params: { live: boolean; n: number; hostile: string | undefined }[];
  /** A letter or digit of the route's fixed path written as a percent-escape (the same route to the router). */
  spelling: number | undefined;
  payload: PayloadSpec;
  withBody: boolean;
  contentType: number;
  auth: number;
  apiKey: number;
  origin: number | undefined;
  preflight: number;
  header: string | undefined;
  requestId: string | undefined;
  key: string | undefined;
  query: string | undefined;
};

/** A per-target seed from the run's seed, so `--seed S --target T` replays target T alone. */
export function targetSeed(seed: number, engine: string, target: string): number {
  return createHash('sha256').update(`${seed}:${engine}:${target}`).digest().readInt32LE(0);
}

/** Runs the whole fuzz: per engine, a stack, every target for its share of the time, then the checks. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => undefined);
  const report: FuzzReport = { seed: o.seed, minutes: o.minutes, engines: [], ok: true };
  for (const engine of o.engines) {
    const r = await fuzzEngine(engine, o, (o.minutes * 60_000) / o.engines.length, log);
    report.engines.push(r);
    const failed = r.missing.length > 0 || r.crashes.length > 0 || r.checks.some((c) => !c.ok) || r.targets.some((t) => t.failure !== undefined);
    if (failed) report.ok = false;
  }
  return report;
}

async function fuzzEngine(engine: Engine, o: FuzzOptions, budgetMs: number, log: (line: string) => void): Promise<EngineReport> {
  const timeoutMs = o.requestTimeoutMs ?? 1000;
  const waitMs = timeoutMs + ANSWER_MARGIN_MS;
  log(`[${engine}] starting the stack`);
  const t0 = Date.now();
  const stack = await FuzzStack.start({ engine, gatewayTimeoutMs: timeoutMs });
  const out: EngineReport = { engine, targets: [], covered: [], missing: [], crashes: [], checks: [], fuzzMs: 0 };
  const subs: Subscription[] = [];
  try {
    const nc = stack.nc;
    const subjectsDerived = deriveSubjectTargets();
    const routesDerived = deriveRouteTargets(stack.processes.flatMap((p) => p.http));
    out.covered = subjectsDerived.covered;
    // Every process runs its ops server here (HTTP_PORT=0): one that reports none hides its routes.
    const unreported = stack.processes.filter((p) => !p.http.some((h) => h.server === 'ops')).map((p) => ({ name: p.name, reason: 'its ready line lists no ops HTTP server (`http`): its routes cannot be fuzzed' }));
    out.missing = [...subjectsDerived.missing, ...routesDerived.missing, ...unreported];
    if (out.missing.length > 0) return out;
    const targets: Target[] = [...subjectsDerived.targets, ...routesDerived.targets].filter((t) => o.target === undefined || t.name.includes(o.target));

    log(`[${engine}] stack up in ${Date.now() - t0} ms`);
    const t1 = Date.now();
    const setup = await prepare(stack, timeoutMs);
    log(`[${engine}] state prepared in ${Date.now() - t1} ms`);
    const { ctx, acked } = setup;
    // Watch events go to the fuzzer's inbox; each must be a valid watch message.
    const problems: string[] = [];
    const watches = new Map<string, WatchSeen>();
    subs.push(
      nc.subscribe(`${setup.inboxBase}.>`, {
        callback: (_err, msg) => {
          try {
            const parsed = WatchMessage.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
            if (!parsed.success) {
              problems.push(`watch message on ${msg.subject} is not a watch message`);
              return;
            }
            const m = parsed.data;
            const seen = watches.get(m.watchId) ?? { events: 0, lastRevision: 0, outOfOrder: false };
            watches.set(m.watchId, seen);
            if (m.type === 'ended') seen.ended = `${m.error.code}: ${m.error.message}`;
            else
              for (const e of m.events) {
                if (e.kv.modRevision < seen.lastRevision) seen.outOfOrder = true;
                seen.lastRevision = e.kv.modRevision;
                seen.events++;
              }
          } catch {
            problems.push(`watch message on ${msg.subject} is not JSON`);
          }
        },
      }),
    );
    // Published events carry this reply subject: whoever answers must answer with an envelope.
    const eventReplies = createInbox();
    subs.push(
      nc.subscribe(eventReplies, {
        callback: (_err, msg) => {
          const v = judgeBusReply(msg.data, { kind: 'any' });
          if (!v.ok) problems.push(`a reply to a published event: ${v.problem}`);
        },
      }),
    );

    const sliceMs = budgetMs / Math.max(1, targets.length);
    log(`[${engine}] ${targets.length} targets, ${Math.round(sliceMs)} ms each; ${out.covered.length} wildcard builders covered by others`);
    const started = Date.now();
    for (const t of targets) {
      const tr = await fuzzTarget(t, { stack, ctx, nc, timeoutMs, waitMs, eventReplies, sliceMs, seed: targetSeed(o.seed, engine, t.name), oracle: o.peerOracles[engine], problems, watches });
      out.targets.push(tr);
      log(`[${engine}] ${t.name}: ${tr.inputs} inputs${tr.skipped ? `, ${tr.skipped} skipped` : ''}${tr.failure ? ' FAILED' : ''}`);
      if (stack.dead().length > 0) break;
    }
    out.fuzzMs = Date.now() - started;
    out.crashes = stack.dead().map((d) => ({ name: d.name, exit: d.exit }));
    for (const d of stack.dead()) log(`[${engine}] ${d.name} (pid ${d.pid}) exited: ${d.exit}\n${d.output}`);
    const t2 = Date.now();
    out.checks = await afterChecks(stack, ctx, acked, timeoutMs, ANSWER_MARGIN_MS);
    log(`[${engine}] checks done in ${Date.now() - t2} ms`);
    if (problems.length > 0) out.checks.push({ name: 'every watch event and every reply to a published event is well-formed', ok: false, detail: [...new Set(problems)].slice(0, 10).join('\n') });
    else out.checks.push({ name: 'every watch event and every reply to a published event is well-formed', ok: true });
    return out;
  } finally {
    for (const s of subs) s.unsubscribe();
    const t3 = Date.now();
    await stack.stop();
    log(`[${engine}] stack stopped in ${Date.now() - t3} ms`);
  }
}

interface TargetEnv {
  stack: FuzzStack;
  ctx: FuzzContext;
  nc: NatsConnection;
  timeoutMs: number;
  waitMs: number;
  eventReplies: string;
  sliceMs: number;
  seed: number;
  oracle: PeerOracle;
  problems: string[];
  /** What each watch of the fuzzer delivered so far, by watch id. */
  watches: Map<string, WatchSeen>;
}

interface WatchSeen {
  events: number;
  lastRevision: number;
  outOfOrder: boolean;
  ended?: string;
}

/** Thrown by a predicate: a reply broke the contract, or a process died. */
class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

async function fuzzTarget(t: Target, env: TargetEnv): Promise<TargetReport> {
  const tr: TargetReport = { name: t.name, inputs: 0, skipped: 0, answers: {} };
  const count = (label: string) => {
    tr.answers[label] = (tr.answers[label] ?? 0) + 1;
  };
  // A process that died earlier makes every later input fail: those are skipped, so shrinking
  // keeps the input after which the death was first seen.
  let broken = false;
  const judge = (v: Verdict, what: string) => {
    if (!v.ok) throw new FuzzFailure(`${what}: ${v.problem}`);
    count(v.label);
  };
  const afterEach = (what: string) => {
    const dead = env.stack.dead();
    if (dead.length > 0) {
      broken = true;
      throw new FuzzFailure(`after ${what}: ${dead.map((d) => `${d.name} exited (${d.exit})`).join(', ')}\n${dead.map((d) => d.output).join('\n')}`);
    }
  };
  const run = async <T>(arb: fc.Arbitrary<T>, send: (input: T) => Promise<boolean>): Promise<void> => {
    const details = await fc.check(
      fc.asyncProperty(arb, async (input) => {
        fc.pre(!broken);
        const sent = await send(input);
        if (!sent) tr.skipped++;
        fc.pre(sent);
        tr.inputs++;
      }),
      { seed: env.seed, numRuns: Number.MAX_SAFE_INTEGER, maxSkipsPerRun: 1000, includeErrorInReport: true, plugins: [fc.interruptAfterTimeLimit(env.sliceMs)] },
    );
    // A slice that ended before the first input finished is not a failure (the report shows 0 inputs);
    // a counterexample, or every input skipped, is.
    if (details.failed && !(details.interrupted && details.counterexample === null)) tr.failure = fc.defaultReportMessage(details);
  };

  if (t.kind === 'route') {
    await run(routeInputArb(t), (input) => sendRoute(t, input, env, judge, afterEach));
  } else if (t.role === 'peer') {
    await fuzzPeer(t, env, run, afterEach, count);
  } else {
    await run(subjectInputArb(t), (input) => sendSubject(t, input, env, judge, afterEach, count));
  }
  return tr;
}

function subjectInputArb(t: SubjectTarget): fc.Arbitrary<SubjectInput> {
  return fc.record({ params: fc.tuple(...t.params.map(() => pickArb)), payload: payloadArb(casesFor(t.api).length > 0), header: headerArb });
}

function routeInputArb(t: RouteTarget): fc.Arbitrary<RouteInput> {
  return fc.record({
    proc: fc.nat(),
    params: fc.tuple(...t.params.map(() => routePickArb)),
    spelling: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
    payload: payloadArb(routeApi(t) !== undefined),
    withBody: fc.boolean(),
    contentType: fc.nat(),
    auth: fc.nat(),
    apiKey: fc.nat(),
    origin: fc.option(fc.nat(), { nil: undefined }),
    preflight: fc.nat(),
    header: headerArb,
    requestId: fc.option(printable, { nil: undefined }),
    key: fc.option(printable, { nil: undefined }),
    query: fc.option(fc.oneof(fc.constantFrom('a=%', 'a=%ZZ', '__proto__=1', 'a[b]=c', 'x='.repeat(200)), printable.map(encodeSegment)), { nil: undefined }),
  });
}

/**
 * Live values of a parameter kind: the stack's own ids, services and endpoints. HTTP routes get no
 * live worker id: the admin routes that take one change weights, and a fuzzed weight of 0 on a live
 * worker would take it out of service (they are fuzzed on unknown ids, past their body checks).
 */
function liveValues(kind: ParamKind, ctx: FuzzContext, picked: Partial<Record<ParamKind, string>>, http: boolean): string[] {
  switch (kind) {
    case 'ns':
      return [ctx.namespace];
    case 'nodeId':
      return ctx.replicaIds;
    case 'service':
      return [...new Set(ctx.workers.map((w) => w.service))];
    case 'workerId':
      return http ? [] : ctx.workers.filter((w) => picked.service === undefined || w.service === picked.service).map((w) => w.id);
    case 'endpoint':
      return [...new Set(ctx.workers.filter((w) => picked.service === undefined || w.service === picked.service).flatMap((w) => w.endpoints))];
    case 'path':
      return [...new Set(ctx.workers.flatMap((w) => w.endpoints.map((e) => `v1/services/${w.service}/${e}`))), 'v1/workers', 'v1/services', 'docs'];
  }
}

/** Origins sent in `origin` headers: the allowed one, and near misses of it. */
const ORIGINS = (allowed: string): string[] => [allowed, 'https://evil.example', 'null', `${allowed}.evil.example`, allowed.replace('https:', 'http:'), allowed.toUpperCase(), `${allowed}:443`, ''];
/** `access-control-request-method` of a preflight (OPTIONS) request. */
const PREFLIGHT_METHODS = ['POST', 'GET', 'DELETE', 'PUT', 'FUZZ', ''];

/**
 * Resolves parameter picks in order (a worker id follows the service picked before it). A semantic
 * case (`override` set) gets live values, and its own where it names them.
 */
function resolveParams(
  params: { name: string; kind: ParamKind }[],
  picks: { live: boolean; n: number; hostile?: string | undefined }[],
  ctx: FuzzContext,
  override: Partial<Record<string, string>> | undefined,
  http: boolean,
): { values: string[]; named: Record<string, string>; byKind: Partial<Record<ParamKind, string>> } {
  const byKind: Partial<Record<ParamKind, string>> = {};
  const named: Record<string, string> = {};
  const values = params.map((p, i) => {
    const pick = picks[i]!;
    const forced = override?.[p.name] ?? override?.[p.kind];
    let v: string;
    if (forced !== undefined) v = forced;
    else if (pick.hostile !== undefined && override === undefined) v = pick.hostile;
    else {
      const live = liveValues(p.kind, ctx, byKind, http);
      const pool = (pick.live || override !== undefined || UNKNOWN[p.kind].length === 0) && live.length > 0 ? live : UNKNOWN[p.kind];
      v = pool[pick.n % pool.length]!;
    }
    byKind[p.kind] = v;
    named[p.name] = v;
    return v;
  });
  return { values, named, byKind };
}

function apiLimit(api: ApiName | undefined, ctx: FuzzContext): number {
  return ctx.limits.requestBytes[api ?? 'default'];
}

/** Where `oversized` payloads go: past the API's limit, the NATS max_payload, the HTTP body limit, 1 MiB. */
function limitsFor(ctx: FuzzContext, api: ApiName | undefined) {
  return { api: apiLimit(api, ctx), 'max-payload': ctx.limits.natsMaxPayload, 'http-body': ctx.limits.httpBodyBytes, 'beyond-1mib': 1024 * 1024 };
}

/** An oversized body must be refused as too large by an API with a known limit. */
function withSizeExpectation(r: Rendered, p: PayloadSpec, limit: number | undefined): Rendered {
  if (p.kind === 'oversized' && limit !== undefined && r.bytes.length > limit) return { ...r, expect: { kind: 'codes', codes: ['PAYLOAD_TOO_LARGE'] } };
  return r;
}

/** APIs whose request limit is known (others answer oversized requests however they like, as long as with an envelope). */
const SIZED_APIS: ReadonlySet<ApiName> = new Set(['store', 'lock', 'worker']);

async function sendSubject(
  t: SubjectTarget,
  input: SubjectInput,
  env: TargetEnv,
  judge: (v: Verdict, what: string) => void,
  afterEach: (what: string) => void,
  count: (label: string) => void,
): Promise<boolean> {
  const { ctx, nc } = env;
  const semantic = input.payload.kind === 'semantic' ? semanticCase(t.api, input.payload.c) : undefined;
  if (input.payload.kind === 'semantic' && !semantic) return false;
  const { values, named: params } = resolveParams(
    t.params.map((kind) => ({ name: kind, kind })),
    input.params,
    ctx,
    semantic ? (semantic.params ?? {}) : undefined,
    false,
  );
  const builder = subjects[t.builder] as (...a: string[]) => string;
  const subject = builder(...values);
  let rendered = renderPayload(input.payload, { api: t.api, ctx, params, limits: limitsFor(ctx, t.api) });
  if (!rendered) return false;
  rendered = withSizeExpectation(rendered, input.payload, t.role === 'request' && t.api !== undefined && SIZED_APIS.has(t.api) ? apiLimit(t.api, ctx) : undefined);
  if (!semantic && unsafe(rendered.bytes, ctx)) return false;
  const what = `${rendered.what} on ${subject}`;
  if (rendered.bytes.length > ctx.limits.natsMaxPayload) {
    const r = await rawPublish(env.stack.nats.url, subject, rendered.bytes.length, env.waitMs);
    if ('accepted' in r) throw new FuzzFailure(`${what}: nats-server accepted a payload beyond its max_payload`);
    count(`refused by nats-server: ${r.refused}`);
    afterEach(what);
    return true;
  }
  if (t.role === 'event') {
    nc.publish(subject, rendered.bytes, { reply: env.eventReplies });
    await nc.flush();
    count('published');
    afterEach(what);
    return true;
  }
  const steps: { bytes: Uint8Array; expect: Expect; deadlineMs?: number }[] = [
    { bytes: rendered.bytes, expect: rendered.expect, ...(rendered.deadlineMs === undefined ? {} : { deadlineMs: rendered.deadlineMs }) },
    ...(rendered.then ?? []),
  ];
  for (const [i, step] of steps.entries()) {
    const header = step.deadlineMs !== undefined ? String(step.deadlineMs) : input.header !== undefined && rendered.quick ? input.header : String(env.timeoutMs);
    const waitMs = (step.deadlineMs ?? env.timeoutMs) + ANSWER_MARGIN_MS;
    const a = await busSend(nc, subject, step.bytes, { requestId: `fuzz-${randomBytes(6).toString('hex')}`, timeoutHeader: header, waitMs });
    if (a.kind === 'timeout') throw new FuzzFailure(`${what}${i > 0 ? ` (step ${i + 1})` : ''}: no reply within ${waitMs} ms (deadline header ${JSON.stringify(header)})`);
    if (a.kind === 'no-responders') {
      count('no responders');
      break;
    }
    judge(judgeBusReply(a.data, step.expect), `${what}${i > 0 ? ` (step ${i + 1})` : ''}`);
    noteRevision(a.data, ctx);
    if (step.expect.kind === 'watch-delivers' && !retryableError(a.data)) await watchDelivers(step.bytes, step.expect.events, env, what);
    // A step refused retryably (not the leader, an election) did not happen: the next ones assume it did.
    if (retryableError(a.data)) break;
  }
  afterEach(what);
  return true;
}

/** The request's JSON body, when it parses, checked against the fixtures (see guard.ts). */
function unsafe(bytes: Uint8Array, ctx: FuzzContext): boolean {
  if (bytes.length > 64 * 1024) return false;
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return false;
  }
  return unsafeToSend(body, ctx) !== undefined;
}

/** A watch the request created must deliver `events` events in revision order before its deadline, and not end. */
async function watchDelivers(bytes: Uint8Array, events: number, env: TargetEnv, what: string): Promise<void> {
  const { watchId } = JSON.parse(new TextDecoder().decode(bytes)) as { watchId: string };
  const deadline = Date.now() + env.waitMs;
  for (;;) {
    const seen = env.watches.get(watchId);
    if (seen?.ended !== undefined) throw new FuzzFailure(`${what}: the watch ended (${seen.ended}) after ${seen.events} of ${events} events`);
    if (seen?.outOfOrder) throw new FuzzFailure(`${what}: the watch delivered events out of revision order`);
    if ((seen?.events ?? 0) >= events) return;
    if (Date.now() > deadline) throw new FuzzFailure(`${what}: the watch delivered ${seen?.events ?? 0} of ${events} events within ${env.waitMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function retryableError(data: Uint8Array): boolean {
  try {
    const o = JSON.parse(new TextDecoder().decode(data)) as { error?: { retryable?: unknown } };
    return o.error?.retryable === true;
  } catch {
    return false;
  }
}

/** Keeps `ctx.store.revision` at the highest revision any reply mentioned (for "a revision beyond the store"). */
function noteRevision(data: Uint8Array, ctx: FuzzContext): void {
  const m = /"revision":(\d+)/.exec(new TextDecoder().decode(data.subarray(0, 4096)));
  if (m) ctx.store.revision = Math.max(ctx.store.revision, Number(m[1]));
}

async function fuzzPeer(
  t: SubjectTarget,
  env: TargetEnv,
  run: <T>(arb: fc.Arbitrary<T>, send: (input: T) => Promise<boolean>) => Promise<void>,
  afterEach: (what: string) => void,
  count: (label: string) => void,
): Promise<void> {
  const { ctx, nc } = env;
  if (t.params.join(',') !== 'ns,nodeId') throw new Error(`${t.name}: peer subjects are fuzzed per (namespace, node id); this builder takes ${t.params.join(', ')}`);
  const builder = subjects[t.builder] as (ns: string, node: string) => string;
  const capture = new FrameCapture();
  const subs = ctx.replicaIds.map((id) => nc.subscribe(builder(ctx.namespace, id), { callback: (_e, msg) => capture.add(id, msg.data) }));
  try {
    const deadline = Date.now() + 5000;
    while (ctx.replicaIds.some((id) => capture.of(id).length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    let sent = 0;
    await run(peerInputArb, async (input: PeerInput) => {
      const r = resolvePeerInput(input, ctx.replicaIds, capture, env.oracle);
      if (!r.send) return false;
      nc.publish(builder(ctx.namespace, r.recipient), r.bytes);
      await nc.flush();
      count(r.kind);
      // The replica must go on answering: every 20 frames, its status.
      if (++sent % 20 === 0) {
        const a = await busSend(nc, subjects.kvNode(ctx.namespace, r.recipient), new TextEncoder().encode('{"type":"status"}'), {
          requestId: `fuzz-peer-${sent}`,
          timeoutHeader: String(env.timeoutMs),
          waitMs: env.waitMs,
        });
        if (a.kind !== 'reply') throw new FuzzFailure(`after ${r.what}: replica ${r.recipient} did not answer its status (${a.kind})`);
      }
      afterEach(r.what);
      return true;
    });
  } finally {
    for (const s of subs) s.unsubscribe();
  }
}

/** The service route is a worker call: its bodies and semantic cases are the workers'. */
function routeApi(t: RouteTarget): ApiName | undefined {
  return t.method !== 'ANY' && t.params.some((x) => x.kind === 'endpoint') && t.params.some((x) => x.kind === 'service') ? 'worker' : undefined;
}

async function sendRoute(t: RouteTarget, input: RouteInput, env: TargetEnv, judge: (v: Verdict, what: string) => void, afterEach: (what: string) => void): Promise<boolean> {
  const { ctx, stack } = env;
  const route = `${t.method} ${t.url}`;
  const procs = stack.processes.flatMap((p) => p.http.filter((h) => h.server === t.server && (t.method === 'ANY' || h.routes.includes(route))).map((h) => ({ p, port: h.port })));
  if (procs.length === 0) return false;
  const { p, port } = procs[input.proc % procs.length]!;
  const method = t.method === 'ANY' ? ANY_METHODS[Math.floor(input.contentType / CONTENT_TYPES.length) % ANY_METHODS.length]! : t.method;
  const api = routeApi(t);
  const semantic = input.payload.kind === 'semantic' ? semanticCase(api, input.payload.c) : undefined;
  if (input.payload.kind === 'semantic' && !semantic) return false;
  const { values, byKind } = resolveParams(t.params, input.params, ctx, semantic ? (semantic.params ?? {}) : undefined, true);
  const path = routePath(t, values, input.params.map((x) => x.hostile !== undefined && semantic === undefined), input.spelling);
  const params = { ...(byKind.endpoint === undefined ? {} : { endpoint: byKind.endpoint }), ...(byKind.service === undefined ? {} : { service: byKind.service }) };
  let rendered = renderPayload(input.payload, { api, ctx, params, limits: limitsFor(ctx, api) });
  if (!rendered) return false;
  const hasBody = !['GET', 'HEAD'].includes(method) || input.withBody;
  const oversized = input.payload.kind === 'oversized';
  const headers: Record<string, string> = {};
  // Semantic cases are well-formed requests, and an oversized body is only wrong in its size: both are JSON.
  const contentType = oversized || semantic ? 'application/json' : CONTENT_TYPES[input.contentType % CONTENT_TYPES.length]!;
  if (hasBody && contentType !== '') headers['content-type'] = contentType;
  // Mostly the valid credentials, so most inputs get past their checks; semantic cases always carry the key.
  const auth = input.auth % 7;
  if (auth < 3) headers.authorization = `Bearer ${ctx.adminToken}`;
  else if (auth === 3) headers.authorization = 'Bearer not-the-token';
  else if (auth === 4) headers.authorization = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
  else if (auth === 5) headers.authorization = `Bearer ${ctx.apiKey}`;
  const apiKey = semantic ? 0 : input.apiKey % 8;
  if (apiKey < 5) headers['x-api-key'] = ctx.apiKey;
  else if (apiKey === 5) headers['x-api-key'] = 'fuzz-not-a-key';
  else if (apiKey === 6) headers['x-api-key'] = 'k'.repeat(2000);
  if (input.origin !== undefined) {
    const origins = ORIGINS(ctx.corsOrigin);
    headers.origin = origins[input.origin % origins.length]!;
    if (method === 'OPTIONS') headers['access-control-request-method'] = PREFLIGHT_METHODS[input.preflight % PREFLIGHT_METHODS.length]!;
  }
  const credential = credentialOf(t);
  const lacks = credential !== undefined && !carries(credential, headers, ctx) ? credential : undefined;
  // A hostile path is refused before the body is looked at, and so is a request without its
  // credential: only a valid, authorized path must answer 413.
  const validPath = semantic !== undefined || input.params.every((x) => x.hostile === undefined);
  rendered = withSizeExpectation(rendered, input.payload, t.server === 'api' && validPath && lacks === undefined && ['POST', 'PUT', 'PATCH'].includes(method) ? ctx.limits.httpBodyBytes : undefined);
  if (rendered.deadlineMs !== undefined) headers[HTTP_HEADERS.timeoutMs] = String(rendered.deadlineMs);
  else if (input.header !== undefined && rendered.quick && !semantic) headers[HTTP_HEADERS.timeoutMs] = input.header;
  if (input.requestId !== undefined) headers[HTTP_HEADERS.requestId] = input.requestId;
  if (input.key !== undefined) headers['x-synod-key'] = input.key;
  const url = `${path}${input.query === undefined ? '' : `?${input.query}`}`;
  const what = `${method} ${url.slice(0, 200)} on ${p.name} with ${hasBody ? rendered.what : 'no body'} (content-type ${JSON.stringify(headers['content-type'] ?? '')}${lacks === undefined ? '' : `, without ${lacks}`})`;
  const a = await httpSend(`http://127.0.0.1:${port}`, url, { method, headers, body: hasBody ? rendered.bytes : undefined, waitMs: env.waitMs });
  if (a.kind === 'timeout') throw new FuzzFailure(`${what}: no answer within ${env.waitMs} ms`);
  if (a.kind === 'closed') {
    // A server may refuse a body past its limit before reading it all; the process must live on.
    if (!oversized) throw new FuzzFailure(`${what}: the connection failed: ${a.message}`);
    judge({ ok: true, label: 'connection closed on an oversized body' }, what);
  } else {
    const asked = { method, lacks, origin: headers.origin, allowedOrigins: [ctx.corsOrigin] };
    judge(judgeHttp(asked, a, hasBody ? rendered.expect : { kind: 'any' }), what);
  }
  afterEach(what);
  return true;
}
