import type { Membership } from '@synod/replog';
import { decodeMeta, decodeSlot, encodeMeta, encodeSlot, sameBallot, type PaxosMeta, type PaxosSnapshotExtra, type Slot } from '@synod/paxos';
import { EngineWalStorage, type EngineDurableState, type EngineWalFormat, type WalOptions } from '@synod/wal';

export type PaxosWalStorageOptions = WalOptions;

const paxosFormat: EngineWalFormat<Slot, PaxosMeta, PaxosSnapshotExtra> = {
  engine: 'Paxos',
  encodeRecord: encodeSlot,
  decodeRecord: decodeSlot,
  encodeMeta,
  decodeMeta,
  // The promise must be durable before any message relying on it goes out; the chosen prefix
  // alone need not be (a restart re-learns it), so it rides along with the next promise change.
  metaMustPersist: (next, last) => !last || !sameBallot(next.promised, last.promised),
  // A record for a slot supersedes only that slot (unlike Raft's, which cuts the suffix).
  supersedes: 'slot',
  parseExtra(json) {
    const configs = (json as { configs?: unknown } | null)?.configs;
    if (!Array.isArray(configs)) throw new Error('the configuration epochs are missing');
    return { configs } as PaxosSnapshotExtra;
  },
};

/**
 * An acceptor's durable state in a WAL (libs/wal's EngineWalStorage): one record per accepted value
 * (a later record for a slot supersedes the earlier one), the promise and chosen prefix in the WAL's
 * metadata register, snapshots as WAL snapshot files with the configuration epochs as the engine's
 * metadata. A restart replays from the oldest record still holding a slot after the snapshot.
 */
export class PaxosWalStorage extends EngineWalStorage<Slot, PaxosMeta, PaxosSnapshotExtra> {
  static open(opts: PaxosWalStorageOptions): Promise<{ storage: PaxosWalStorage; durable: EngineDurableState<Slot, PaxosMeta, PaxosSnapshotExtra> | undefined }> {
    return EngineWalStorage.openWith(opts, (wal) => new PaxosWalStorage(wal, paxosFormat));
  }
}

/** Seeds an empty data dir with a snapshot (restoring a backup). Refuses a directory with state. */
export async function writeBootstrapSnapshot(dir: string, s: { index: number; membership: Membership; data: Uint8Array }): Promise<void> {
  const { storage, durable } = await PaxosWalStorage.open({ dir });
  try {
    if (durable) throw new Error(`${dir} already holds Paxos state; restore into an empty directory`);
    await storage.persist({ snapshot: { index: s.index, membership: s.membership, extra: { configs: [{ from: 0, membership: s.membership }] }, data: s.data }, records: [] });
  } finally {
    await storage.close();
  }
}
