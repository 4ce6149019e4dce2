import { channel } from 'node:diagnostics_channel';

/**
 * Where a request's time goes, for profiling tools: processes publish a timestamp at each step of a
 * request's path (received, a peer message sent or received, a write persisted, the reply sent) on
 * this `node:diagnostics_channel` channel. Nothing is built or published unless something subscribes
 * (`phases.hasSubscribers`), so the steps cost a property read in production. `bench/kv-path.ts`
 * subscribes through an `--import` preload and joins the steps of all processes on one clock.
 */
export const PHASES_CHANNEL = 'synod:phases';

export interface PhaseEvent {
  /** `request`, `reply`, `peer-tx`, `peer-rx`, `persist`, `persisted`. */
  step: string;
  /** process.hrtime.bigint(): CLOCK_MONOTONIC, the same clock in every process of one host. */
  at: bigint;
  /** The peer message's type, for peer-tx and peer-rx. */
  type?: string;
  /** The other end of a peer message. */
  peer?: string;
}

export const phases = channel(PHASES_CHANNEL);

/** Publishes a step; call only under `if (phases.hasSubscribers)`. */
export function publishPhase(step: string, type?: string, peer?: string): void {
  const e: PhaseEvent = { step, at: process.hrtime.bigint() };
  if (type !== undefined) e.type = type;
  if (peer !== undefined) e.peer = peer;
  phases.publish(e);
}
