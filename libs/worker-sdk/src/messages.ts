import type { WorkerAnnounce, WorkerDeregister, WorkerLoad } from '@synod/protocol';

/** Who a worker is, as every announce and heartbeat repeats it. */
export interface WorkerIdentity {
  id: string;
  service: string;
  version?: string;
  weight: number;
  /** Every endpoint served, in definition order. */
  endpoints: readonly string[];
  /** The endpoints declared idempotent (a gateway may retry them after a timeout). */
  idempotent: readonly string[];
  maxConcurrency?: number;
  heartbeatIntervalMs: number;
}

/** An announce (at start and in answer to a discover) or a heartbeat, with the current load. */
export function announceMessage(type: WorkerAnnounce['type'], who: WorkerIdentity, load: WorkerLoad): WorkerAnnounce {
  const msg: WorkerAnnounce = {
    type,
    v: 1,
    id: who.id,
    service: who.service,
    weight: who.weight,
    endpoints: [...who.endpoints],
    idempotent: [...who.idempotent],
    heartbeatIntervalMs: who.heartbeatIntervalMs,
    load,
  };
  if (who.version !== undefined) msg.version = who.version;
  if (who.maxConcurrency !== undefined) msg.maxConcurrency = who.maxConcurrency;
  return msg;
}

export function deregisterMessage(who: Pick<WorkerIdentity, 'id' | 'service'>): WorkerDeregister {
  return { type: 'deregister', v: 1, id: who.id, service: who.service };
}

/** The `result` of a reply on the ping subject. */
export interface PingResult {
  id: string;
  service: string;
  load: WorkerLoad;
}
