import type { WorkerAnnounce, WorkerLoad, WorkerView } from '@synod/protocol';

/** What the gateway knows of one worker instance. */
export interface WorkerEntry {
  readonly id: string;
  readonly service: string;
  version: string | undefined;
  /** The weight in force: the operator's override when one is set, else the reported one. */
  weight: number;
  /** The weight the worker reports in its heartbeats. */
  reportedWeight: number;
  /** A weight set through the admin route; wins over the reported one until cleared. */
  weightOverride: number | undefined;
  endpoints: ReadonlySet<string>;
  /** Endpoints the worker declares idempotent (retried after a timeout). */
  idempotent: ReadonlySet<string>;
  /** Jobs the worker takes at once, as it reports; undefined: it did not say. */
  maxConcurrency: number | undefined;
  /** When this gateway first saw the worker (ms, gateway clock); slow start ramps from here. */
  joinedAt: number;
  /** When the last announce or heartbeat arrived (ms, gateway clock). */
  lastSeen: number;
  reported: WorkerLoad;
  /** Requests this gateway sent that are not answered yet. */
  inFlight: number;
  /** When the oldest of those was sent (ms, gateway clock); undefined when none is in flight. */
  inFlightSince: number | undefined;
  served: number;
  errors: number;
}

export type RegistryChange = { kind: 'joined' | 'left'; worker: WorkerEntry; reason?: 'expired' | 'deregistered' | 'no-responders' };

/**
 * The gateway's view of live workers, built from registry messages. Pure: the caller passes the
 * time, so expiry is testable without waiting. A worker that misses heartbeats for longer than
 * `expiryMs` is removed by the next `sweep`.
 */
export class WorkerRegistry {
  private readonly byService = new Map<string, Map<string, WorkerEntry>>();
  private readonly byId = new Map<string, WorkerEntry>();
  /** Endpoints ever announced per service: tells "unknown endpoint" from "no live worker". */
  private readonly knownEndpoints = new Map<string, Set<string>>();
  private readonly cache = new Map<string, WorkerEntry[]>();
  /** Per service, per endpoint: the live workers serving it (cleared with `cache`). */
  private readonly servingCache = new Map<string, Map<string, WorkerEntry[]>>();

  constructor(private readonly expiryMs: number) {}

  /** Records an announce or heartbeat; returns the change when the worker is new. */
  upsert(msg: WorkerAnnounce, now: number): RegistryChange | undefined {
    const existing = this.byId.get(msg.id);
    if (existing && existing.service !== msg.service) this.remove(msg.id);
    let known = this.knownEndpoints.get(msg.service);
    if (!known) this.knownEndpoints.set(msg.service, (known = new Set()));
    for (const e of msg.endpoints) known.add(e);

    const current = this.byId.get(msg.id);
    if (current) {
      const weight = current.weightOverride ?? msg.weight;
      if (current.weight !== weight || !sameSet(current.endpoints, msg.endpoints)) this.forget(msg.service);
      current.version = msg.version;
      current.weight = weight;
      current.reportedWeight = msg.weight;
      current.endpoints = new Set(msg.endpoints);
      current.idempotent = new Set(msg.idempotent ?? []);
      current.maxConcurrency = msg.maxConcurrency;
      current.lastSeen = now;
      current.reported = msg.load;
      return undefined;
    }
    const entry: WorkerEntry = {
      id: msg.id,
      service: msg.service,
      version: msg.version,
      weight: msg.weight,
      reportedWeight: msg.weight,
      weightOverride: undefined,
      endpoints: new Set(msg.endpoints),
      idempotent: new Set(msg.idempotent ?? []),
      maxConcurrency: msg.maxConcurrency,
      joinedAt: now,
      lastSeen: now,
      reported: msg.load,
      inFlight: 0,
      inFlightSince: undefined,
      served: 0,
      errors: 0,
    };
    this.byId.set(entry.id, entry);
    let svc = this.byService.get(entry.service);
    if (!svc) this.byService.set(entry.service, (svc = new Map()));
    svc.set(entry.id, entry);
    this.forget(entry.service);
    return { kind: 'joined', worker: entry };
  }

  remove(id: string, reason: RegistryChange['reason'] = 'deregistered'): RegistryChange | undefined {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    this.byId.delete(id);
    this.byService.get(entry.service)?.delete(id);
    this.forget(entry.service);
    return { kind: 'left', worker: entry, reason };
  }

  /** Removes every worker not heard from within the expiry; returns what left. */
  sweep(now: number): RegistryChange[] {
    const left: RegistryChange[] = [];
    for (const entry of [...this.byId.values()]) {
      if (now - entry.lastSeen > this.expiryMs) left.push(this.remove(entry.id, 'expired')!);
    }
    return left;
  }

  /** True once any worker has announced the service (live or not). */
  isKnownService(service: string): boolean {
    return this.knownEndpoints.has(service);
  }

  isKnownEndpoint(service: string, endpoint: string): boolean {
    return this.knownEndpoints.get(service)?.has(endpoint) ?? false;
  }

  /** Live workers of a service in a stable order (arrival); the array is cached until membership changes. */
  workersOf(service: string): readonly WorkerEntry[] {
    let list = this.cache.get(service);
    if (!list) {
      list = [...(this.byService.get(service)?.values() ?? [])];
      this.cache.set(service, list);
    }
    return list;
  }

  /** Live workers of a service that serve `endpoint`, in the order of {@link workersOf}; cached likewise. */
  workersServing(service: string, endpoint: string): readonly WorkerEntry[] {
    let byEndpoint = this.servingCache.get(service);
    if (!byEndpoint) this.servingCache.set(service, (byEndpoint = new Map()));
    let list = byEndpoint.get(endpoint);
    if (!list) {
      list = this.workersOf(service).filter((w) => w.endpoints.has(endpoint));
      byEndpoint.set(endpoint, list);
    }
    return list;
  }

  /**
   * Sets (or with undefined clears) an operator's weight for a worker, in force over the weight it
   * reports until cleared or until the worker leaves. Returns false for an unknown worker.
   */
  setWeightOverride(id: string, weight: number | undefined): boolean {
    const entry = this.byId.get(id);
    if (!entry) return false;
    entry.weightOverride = weight;
    entry.weight = weight ?? entry.reportedWeight;
    this.forget(entry.service);
    return true;
  }

  private forget(service: string): void {
    this.cache.delete(service);
    this.servingCache.delete(service);
  }

  /** Services ever announced. */
  services(): string[] {
    return [...this.knownEndpoints.keys()];
  }

  get(id: string): WorkerEntry | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Rows of `GET /v1/workers`; `extra` adds what the router knows (strategy, latency, ejection). */
  view(now: number, extra?: (w: WorkerEntry) => Partial<WorkerView>): WorkerView[] {
    return [...this.byId.values()].map((w) => ({
      id: w.id,
      service: w.service,
      ...(w.version === undefined ? {} : { version: w.version }),
      weight: w.weight,
      endpoints: [...w.endpoints],
      lastHeartbeat: new Date(w.lastSeen).toISOString(),
      lastHeartbeatAgeMs: Math.max(0, now - w.lastSeen),
      inFlight: w.inFlight,
      served: w.served,
      errors: w.errors,
      reported: { ...w.reported },
      reportedWeight: w.reportedWeight,
      ...(w.weightOverride === undefined ? {} : { weightOverride: w.weightOverride }),
      ...(w.maxConcurrency === undefined ? {} : { maxConcurrency: w.maxConcurrency }),
      ...extra?.(w),
    }));
  }
}

function sameSet(a: ReadonlySet<string>, b: readonly string[]): boolean {
  return a.size === b.length && b.every((x) => a.has(x));
}
