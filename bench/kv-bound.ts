// The 1-client put's bound (issue 4: 3 x the WAL's sync + 2 NATS round trips): its two inputs,
// measured with the cluster idle, shared by bench:kv and bench:kv-path.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Wal } from '@synod/wal';
import * as hdr from 'hdr-histogram-js';
import { closedLoop, type LoadResult } from './lib.js';

/**
 * Measures the two inputs of the 1-client put's bound with the cluster idle: a NATS request-reply
 * round trip between two connections of this process (350-byte payload), and one durable append
 * (write + fdatasync) of @synod/wal with one appender on the disk the replicas write to (a temp dir
 * under os.tmpdir()). Samples from every call pool into one histogram each, so the bound can be
 * taken from samples interleaved with the put's own slices: this machine's speed drifts by 20-40 %
 * between minutes, and inputs measured minutes before the put compare it with another machine.
 */
export class BoundProbe {
  readonly rtt: LoadResult[] = [];
  readonly sync: LoadResult[] = [];
  private constructor(
    private readonly a: NatsConnection,
    private readonly b: NatsConnection,
    private readonly subject: string,
    private readonly wal: Wal,
    private readonly dir: string,
  ) {}

  static async open(url: string): Promise<BoundProbe> {
    const a = await connect({ servers: url });
    const b = await connect({ servers: url });
    const subject = `kvbench.echo.${process.pid}`;
    b.subscribe(subject, { callback: (_e, m) => void m.respond(m.data) });
    await b.flush();
    const dir = await mkdtemp(join(tmpdir(), 'synod-bench-kv-wal-'));
    return new BoundProbe(a, b, subject, await Wal.open({ dir }), dir);
  }

  /** `seconds` of round trips, then `seconds` of WAL appends. */
  async sample(seconds: number): Promise<void> {
    const payload = new Uint8Array(350);
    this.rtt.push(await closedLoop('nats rtt', 1, seconds, async () => void (await this.a.request(this.subject, payload, { timeout: 1000 }))));
    const record = new Uint8Array(100).fill(7);
    this.sync.push(await closedLoop('wal sync', 1, seconds, async () => void (await this.wal.append([record]))));
  }

  async close(): Promise<void> {
    await this.wal.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
    await this.a.close();
    await this.b.close();
  }
}

/** Pools closed-loop results of the same measurement into one. */
export function pooled(name: string, parts: LoadResult[]): LoadResult {
  if (parts.length === 0) throw new Error(`no samples for ${name}`);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  for (const p of parts) histogram.add(p.histogram);
  return {
    name,
    requests: parts.reduce((n, p) => n + p.requests, 0),
    errors: parts.reduce((n, p) => n + p.errors, 0),
    seconds: parts.reduce((n, p) => n + p.seconds, 0),
    histogram,
  };
}
