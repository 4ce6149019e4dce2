import {
  GatewayAdminApplied,
  GatewayStats,
  ReplyEnvelope,
  SynodError,
  type ErrorBody,
} from '@synod/protocol';
import { z } from 'zod';

/** An answer on a gateway subject the console could not use, shown on the page as it is. */
export interface GatewayProblem {
  code: string;
  message: string;
}

/** One worker of a service, over every gateway process that answered. */
export interface WorkerSummary {
  id: string;
  /** The weight in force (an operator's override, else the one the worker reports); 0 is drained. */
  weight: number;
  reportedWeight?: number;
  weightOverride?: number;
  /** Requests out to the worker now, served and failed: sums over the gateway processes. */
  inFlight: number;
  served: number;
  errors: number;
  /** Peak-EWMA latency, in ms: the highest of the gateway processes' estimates. */
  ewmaMs?: number;
  /** Ejected by outlier detection on at least one gateway process. */
  ejected: boolean;
  /** When the latest of those ejections ends, ISO 8601. */
  ejectedUntil?: string;
  ejections: number;
}

export interface ServiceSummary {
  service: string;
  /** The strategy every process uses, or the distinct ones when they disagree. */
  strategies: string[];
  endpoints: string[];
  workers: WorkerSummary[];
  /** Answered and failed requests so far (sums over the workers), for the request rate. */
  served: number;
  errors: number;
  /**
   * Latency of the workers' answers over the gateway's last window, in ms: the highest over the
   * gateway processes (percentiles of separate processes do not add up; the slowest is the one to see).
   */
  p50Ms?: number;
  p99Ms?: number;
  /** Requests a second, from the change of `served + errors` since the stream's previous sample. */
  ratePerS?: number;
}

export interface ServicesView {
  at: number;
  gateways: { gateway: string; process: number; pending: number; pendingPeak: number }[];
  services: ServiceSummary[];
  /** Answers refused (not JSON, not an envelope, not stats) or error envelopes. */
  problems: GatewayProblem[];
}

export interface AdminOutcome {
  applied: GatewayAdminApplied[];
  problems: GatewayProblem[];
}

/**
 * Reads the raw answers of every gateway process: each must be JSON, a Synod envelope, and a result
 * the schema accepts. What fails becomes a problem to show, never an exception.
 */
export function readAnswers<T>(subject: string, raw: readonly Uint8Array[], schema: z.ZodType<T>): { ok: T[]; problems: GatewayProblem[] } {
  const decoder = new TextDecoder();
  const ok: T[] = [];
  const problems: GatewayProblem[] = [];
  for (const data of raw) {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(data));
    } catch {
      problems.push({ code: 'BAD_GATEWAY', message: `an answer on ${subject} is not JSON` });
      continue;
    }
    const reply = ReplyEnvelope.safeParse(json);
    if (!reply.success) {
      problems.push({ code: 'BAD_GATEWAY', message: `an answer on ${subject} is not a Synod envelope` });
      continue;
    }
    if ('error' in reply.data) {
      problems.push({ code: reply.data.error.code, message: reply.data.error.message });
      continue;
    }
    const result = schema.safeParse(reply.data.result);
    if (result.success) ok.push(result.data);
    else problems.push({ code: 'BAD_GATEWAY', message: `an answer on ${subject} is not what the protocol says: ${z.prettifyError(result.error)}` });
  }
  return { ok, problems };
}

const byProcess = (a: { gateway: string; process: number }, b: { gateway: string; process: number }): number =>
  a.gateway < b.gateway ? -1 : a.gateway > b.gateway ? 1 : a.process - b.process;

const max = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.max(a, b));

/** Every gateway process's stats as one view per service (sums of counters, the worst of latencies). */
export function summarize(stats: readonly GatewayStats[], problems: GatewayProblem[], at: number): ServicesView {
  const services = new Map<string, ServiceSummary & { byWorker: Map<string, WorkerSummary> }>();
  const serviceOf = (name: string) => {
    let s = services.get(name);
    if (!s) services.set(name, (s = { service: name, strategies: [], endpoints: [], workers: [], served: 0, errors: 0, byWorker: new Map() }));
    return s;
  };
  const sorted = [...stats].sort(byProcess);
  for (const g of sorted) {
    for (const row of g.services) {
      const s = serviceOf(row.service);
      if (!s.strategies.includes(row.strategy)) s.strategies.push(row.strategy);
      for (const e of row.endpoints) if (!s.endpoints.includes(e)) s.endpoints.push(e);
      const p50 = max(s.p50Ms, row.p50Ms);
      const p99 = max(s.p99Ms, row.p99Ms);
      if (p50 !== undefined) s.p50Ms = p50;
      if (p99 !== undefined) s.p99Ms = p99;
    }
    for (const w of g.workers) {
      const s = serviceOf(w.service);
      const seen = s.byWorker.get(w.id);
      if (!seen) {
        s.byWorker.set(w.id, {
          id: w.id,
          weight: w.weight,
          ...(w.reportedWeight === undefined ? {} : { reportedWeight: w.reportedWeight }),
          ...(w.weightOverride === undefined ? {} : { weightOverride: w.weightOverride }),
          inFlight: w.inFlight,
          served: w.served,
          errors: w.errors,
          ...(w.ewmaMs === undefined ? {} : { ewmaMs: w.ewmaMs }),
          ejected: w.ejected === true,
          ...(w.ejectedUntil === undefined ? {} : { ejectedUntil: w.ejectedUntil }),
          ejections: w.ejections ?? 0,
        });
      } else {
        seen.inFlight += w.inFlight;
        seen.served += w.served;
        seen.errors += w.errors;
        seen.ejections += w.ejections ?? 0;
        const ewma = max(seen.ewmaMs, w.ewmaMs);
        if (ewma !== undefined) seen.ewmaMs = ewma;
        if (w.ejected === true) seen.ejected = true;
        if (w.ejectedUntil !== undefined && (seen.ejectedUntil === undefined || w.ejectedUntil > seen.ejectedUntil)) seen.ejectedUntil = w.ejectedUntil;
        // The lowest weight in force: an override that reached only some processes shows.
        seen.weight = Math.min(seen.weight, w.weight);
        if (w.weightOverride !== undefined && seen.weightOverride === undefined) seen.weightOverride = w.weightOverride;
        if (w.reportedWeight !== undefined && seen.reportedWeight === undefined) seen.reportedWeight = w.reportedWeight;
      }
    }
  }
  const list = [...services.values()]
    .map(({ byWorker, ...s }) => {
      const workers = [...byWorker.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
      return { ...s, workers, served: workers.reduce((n, w) => n + w.served, 0), errors: workers.reduce((n, w) => n + w.errors, 0) };
    })
    .sort((a, b) => (a.service < b.service ? -1 : 1));
  return {
    at,
    gateways: sorted.map((g) => ({ gateway: g.gateway, process: g.process, pending: g.pending, pendingPeak: g.pendingPeak })),
    services: list,
    problems,
  };
}

/**
 * The request rate of each service since `previous` (requests answered or failed a second). A
 * counter that went down (a worker left, a gateway restarted) gives no rate for that sample.
 */
export function withRates(previous: ServicesView | undefined, current: ServicesView): ServicesView {
  if (!previous) return current;
  const dtS = (current.at - previous.at) / 1000;
  if (dtS <= 0) return current;
  const before = new Map(previous.services.map((s) => [s.service, s.served + s.errors]));
  return {
    ...current,
    services: current.services.map((s) => {
      const was = before.get(s.service);
      const delta = s.served + s.errors - (was ?? 0);
      return was === undefined || delta < 0 ? s : { ...s, ratePerS: Math.round((delta / dtS) * 100) / 100 };
    }),
  };
}

/** What an admin change came to: every refusal alike is an error; otherwise what was applied where. */
export function adminOutcome(subject: string, raw: readonly Uint8Array[]): AdminOutcome {
  const { ok, problems } = readAnswers(subject, raw, GatewayAdminApplied);
  if (ok.length === 0) {
    if (problems.length > 0) throw new SynodError('BAD_GATEWAY', `no gateway process applied the change: ${problems[0]!.code}: ${problems[0]!.message}`);
    throw new SynodError('UNAVAILABLE', `no gateway process answered on ${subject}`);
  }
  if (ok.every((a) => !a.ok)) {
    const first: ErrorBody | undefined = ok.find((a) => a.error)?.error;
    throw first ? SynodError.fromBody(first) : new SynodError('BAD_GATEWAY', 'every gateway process refused the change');
  }
  return { applied: ok.sort(byProcess), problems };
}

/** The stats of every gateway process, or UNAVAILABLE when none answered at all. */
export function statsOutcome(subject: string, raw: readonly Uint8Array[], at: number): ServicesView {
  const { ok, problems } = readAnswers(subject, raw, GatewayStats);
  if (ok.length === 0 && problems.length === 0) throw new SynodError('UNAVAILABLE', `no gateway process answered on ${subject}`);
  return summarize(ok, problems, at);
}
