import { randomBytes } from 'node:crypto';
import { SynodError } from '@synod/protocol';
import type { KvStateMachine } from '@synod/kv-state';

const CHUNK_BYTES = 512 * 1024;
/** A snapshot nobody asked for a chunk of this long is dropped. */
const IDLE_MS = 60_000;

/**
 * Consistent snapshots of the store for clients (`synodctl snapshot save`): taken once, then served
 * in chunks below the bus's message bound, by a token that stays valid while chunks are asked for.
 */
export class SnapshotServer {
  private readonly snapshots = new Map<string, { data: Uint8Array; index: number; revision: number; expiresAt: number }>();

  constructor(private readonly now: () => number) {}

  /** The chunk at `offset` of the snapshot `token` (a new snapshot of `sm` at `index` without one). */
  chunk(offset: number, token: string | undefined, sm: KvStateMachine, index: number): unknown {
    let snap = token ? this.snapshots.get(token) : undefined;
    if (token && !snap) throw new SynodError('BAD_REQUEST', `snapshot ${token} expired or unknown: start again from offset 0`);
    if (!snap) {
      token = randomBytes(8).toString('hex');
      snap = { data: sm.snapshot(), index, revision: sm.revision, expiresAt: 0 };
      this.snapshots.set(token, snap);
    }
    snap.expiresAt = this.now() + IDLE_MS;
    const end = Math.min(snap.data.length, offset + CHUNK_BYTES);
    const done = end >= snap.data.length;
    if (done) this.snapshots.delete(token!);
    return {
      token,
      index: snap.index,
      revision: snap.revision,
      size: snap.data.length,
      offset,
      data: Buffer.from(snap.data.subarray(offset, end)).toString('base64'),
      done,
    };
  }

  /** Drops the snapshots nobody came back for. */
  sweep(): void {
    const now = this.now();
    for (const [t, s] of this.snapshots) if (s.expiresAt < now) this.snapshots.delete(t);
  }
}
