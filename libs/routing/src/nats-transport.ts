import { ReplyEnvelope, SynodError, subjects } from '@synod/protocol';
import { type BusRequester, requestHeaderBlock } from '@synod/service-kit';
import type { WorkerEntry } from './registry.js';
import type { Attempt, RouteTransport } from './transport.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** What every success envelope the SDK writes starts with (`JSON.stringify({ result })`). */
const RESULT_HEAD = encoder.encode('{"result":');
const CLOSE_BRACE = 0x7d;
const EMPTY = new Uint8Array(0);

/**
 * The router's transport over NATS request-reply, through one {@link BusRequester} (one inbox
 * subscription). Per request it builds nothing it can build once: a worker's subjects are made on
 * its first request and kept with it, the Synod headers are written straight as the bytes nats.js
 * sends, and a success reply's `result` is handed back as the bytes the worker sent.
 */
export class NatsTransport implements RouteTransport {
  private readonly subjectsOf = new WeakMap<WorkerEntry, Map<string, string>>();

  constructor(
    private readonly requester: BusRequester,
    private readonly namespace: string,
  ) {}

  async send(worker: WorkerEntry, attempt: Attempt): Promise<Uint8Array> {
    const subject = this.subject(worker, attempt.endpoint);
    const msg = await this.requester.request(subject, attempt.body, {
      timeoutMs: attempt.timeoutMs,
      headers: requestHeaderBlock(attempt.requestId, attempt.timeoutMs),
    });
    return resultJson(msg.data, subject);
  }

  async ping(worker: WorkerEntry, timeoutMs: number): Promise<void> {
    await this.requester.request(this.subject(worker, '_ping'), EMPTY, { timeoutMs, headers: requestHeaderBlock(`ping-${worker.id}`, timeoutMs) });
  }

  private subject(worker: WorkerEntry, endpoint: string): string {
    let byEndpoint = this.subjectsOf.get(worker);
    if (!byEndpoint) this.subjectsOf.set(worker, (byEndpoint = new Map()));
    let subject = byEndpoint.get(endpoint);
    if (subject === undefined) {
      subject = endpoint === '_ping' ? subjects.workerPing(this.namespace, worker.service, worker.id) : subjects.workerEndpoint(this.namespace, worker.service, worker.id, endpoint);
      // Bounded by the endpoints the worker announced (the router sends no others) plus its ping.
      byEndpoint.set(endpoint, subject);
    }
    return subject;
  }
}

/**
 * The JSON text of a reply's `result`. The reply is always parsed (a worker's answer is checked,
 * never forwarded blind); when it is exactly `{"result":<value>}`, as the SDK writes it, `<value>`
 * is sliced out of the bytes instead of serialized again.
 */
export function resultJson(data: Uint8Array, subject: string): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not JSON`, { cause: err });
  }
  if (onlyResult(json) && startsWith(data, RESULT_HEAD) && data[data.length - 1] === CLOSE_BRACE) {
    // A view of the same bytes (Buffer.from on the ArrayBuffer: no copy, and cheaper than subarray on a Buffer).
    return Buffer.from(data.buffer, data.byteOffset + RESULT_HEAD.length, data.length - RESULT_HEAD.length - 1);
  }
  const reply = ReplyEnvelope.safeParse(json);
  if (!reply.success) throw new SynodError('BAD_GATEWAY', `reply on ${subject} is not a Synod envelope`);
  if ('error' in reply.data) throw SynodError.fromBody(reply.data.error);
  return encoder.encode(JSON.stringify(reply.data.result ?? null));
}

function onlyResult(json: unknown): boolean {
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !Object.hasOwn(json, 'result')) return false;
  let keys = 0;
  for (const _ in json) keys++;
  return keys === 1;
}

function startsWith(data: Uint8Array, head: Uint8Array): boolean {
  if (data.length < head.length + 1) return false;
  for (let i = 0; i < head.length; i++) if (data[i] !== head[i]) return false;
  return true;
}
