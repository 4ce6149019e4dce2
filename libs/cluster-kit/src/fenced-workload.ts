import type { NatsConnection } from '@nats-io/transport-node';
import type { LockClient } from '@synod/locks';
import { type FencedResource, sleep } from './lock-cluster.js';

/**
 * The fenced-resource workload shared by the safety process test and `chaos:locks`: clients take
 * one mutex and, holding it, begin(token) then commit(token) on a FencedResource; afterwards
 * `fencedViolations` checks the history.
 */

/** What a worker needs of the resource: local (a FencedResource) or across NATS (`remoteResource`). */
export interface Fenced {
  begin(token: number): boolean | Promise<boolean>;
  commit(token: number): boolean | Promise<boolean>;
}

export interface FencedWorkersOptions {
  resource: Fenced;
  newClient: () => LockClient;
  clients: number;
  lockName?: string;
  ttlMs?: number;
  timeoutMs?: number;
  /** Time between begin and commit (default: random 0-4 ms). */
  holdMs?: () => number;
  /** Told after each begin, before the hold (the chaos holder child reports it to its parent). */
  onBegin?: (token: number, accepted: boolean) => void;
  onCommit?: (token: number, accepted: boolean) => void;
}

export interface FencedWorkers {
  /** Every token granted, in grant order. */
  grants: number[];
  errors: string[];
  stop(): Promise<void>;
}

export function runFencedWorkers(o: FencedWorkersOptions): FencedWorkers {
  let running = true;
  const grants: number[] = [];
  const errors: string[] = [];
  const worker = async (i: number) => {
    const client = o.newClient();
    while (running) {
      try {
        await client.withLock(
          o.lockName ?? 'counter',
          async ({ token }) => {
            grants.push(token);
            const began = await o.resource.begin(token);
            o.onBegin?.(token, began);
            if (!began) return;
            await sleep(o.holdMs ? o.holdMs() : Math.random() * 4);
            // (Not inside `onCommit?.(...)`: an absent callback would skip the commit itself.)
            const committed = await o.resource.commit(token);
            o.onCommit?.(token, committed);
          },
          { ttlMs: o.ttlMs ?? 2000, timeoutMs: o.timeoutMs ?? 6000 },
        );
      } catch (err) {
        errors.push(`${i}: ${(err as Error).name} ${(err as Error).message}`);
        await sleep(50);
      }
    }
    await client.close();
  };
  const workers = Array.from({ length: o.clients }, (_, i) => worker(i));
  return {
    grants,
    errors,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/**
 * Everything a lock with fencing must guarantee, as a list of violations (empty: safe): the
 * counter equals the accepted commits; accepted sections never overlap and their tokens strictly
 * grow; accepted begins strictly grow; no token the resource refused ever got a commit in; every
 * token granted to these clients is distinct.
 */
export function fencedViolations(resource: FencedResource, grants: readonly number[] = []): string[] {
  const v: string[] = [];
  if (resource.counter !== resource.accepted.length) v.push(`counter ${resource.counter} != ${resource.accepted.length} accepted commits`);
  const byBegin = [...resource.accepted].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byBegin.length; i++) {
    const prev = byBegin[i - 1]!;
    const cur = byBegin[i]!;
    if (cur.begin < prev.end) v.push(`committed sections interleave: token ${cur.token} began before token ${prev.token} committed`);
    if (cur.token <= prev.token) v.push(`tokens not strictly increasing: ${prev.token} then ${cur.token}`);
  }
  for (let i = 1; i < resource.acceptedBegins.length; i++) {
    if (resource.acceptedBegins[i]! <= resource.acceptedBegins[i - 1]!) v.push(`accepted begins not strictly increasing: ${resource.acceptedBegins[i - 1]} then ${resource.acceptedBegins[i]}`);
  }
  const acceptedTokens = new Set(resource.accepted.map((a) => a.token));
  for (const t of new Set([...resource.rejectedBegins, ...resource.rejectedCommits])) {
    if (acceptedTokens.has(t)) v.push(`stale token ${t} was refused once and accepted another time`);
  }
  if (new Set(grants).size !== grants.length) v.push(`${grants.length - new Set(grants).size} fencing tokens granted twice`);
  return v.slice(0, 20);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Serves a FencedResource on a NATS subject: `{ op: 'begin' | 'commit', token }` → `{ ok }`. */
export function serveFencedResource(nc: NatsConnection, subject: string, resource: FencedResource): { stop(): void } {
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      const req = JSON.parse(decoder.decode(msg.data)) as { op: string; token: number };
      const ok = req.op === 'begin' ? resource.begin(req.token) : resource.commit(req.token);
      msg.respond(encoder.encode(JSON.stringify({ ok })));
    },
  });
  return { stop: () => sub.unsubscribe() };
}

/** The FencedResource served by `serveFencedResource`, from another process. A lost reply counts as refused. */
export function remoteResource(nc: NatsConnection, subject: string, timeoutMs = 2000): Fenced {
  const call = async (op: 'begin' | 'commit', token: number) => {
    try {
      const msg = await nc.request(subject, encoder.encode(JSON.stringify({ op, token })), { timeout: timeoutMs });
      return (JSON.parse(decoder.decode(msg.data)) as { ok: boolean }).ok;
    } catch {
      return false;
    }
  };
  return { begin: (t) => call('begin', t), commit: (t) => call('commit', t) };
}
