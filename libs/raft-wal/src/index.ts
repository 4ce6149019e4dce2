import type { Membership } from '@synod/replog';
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState, type Entry, type HardState, type RaftSnapshotExtra } from '@synod/raft';
import { EngineWalStorage, type EngineDurableState, type EngineWalFormat, type WalOptions } from '@synod/wal';

export type RaftWalStorageOptions = WalOptions;

const raftFormat: EngineWalFormat<Entry, HardState, RaftSnapshotExtra> = {
  engine: 'Raft',
  encodeRecord: encodeEntry,
  decodeRecord: decodeEntry,
  encodeMeta: encodeHardState,
  decodeMeta: decodeHardState,
  // Term and vote must be durable before any message promising them goes out; a commit index
  // alone need not be (after a restart the leader tells it again), so a change of commit only is
  // written with the next term or vote change instead of costing an fsync per write.
  metaMustPersist: (next, last) => !last || next.term !== last.term || next.vote !== last.vote,
  // A record at `index` supersedes every entry from `index` on.
  supersedes: 'suffix',
  parseExtra(json) {
    const term = (json as { term?: unknown } | null)?.term;
    if (typeof term !== 'number' || !Number.isSafeInteger(term) || term < 0) throw new Error('the term is missing or invalid');
    return { term };
  },
};

/**
 * Raft's durable state in a WAL (libs/wal's EngineWalStorage): one record per log entry, the hard
 * state in the WAL's metadata register, snapshots as WAL snapshot files with `{ term }` as the
 * engine's metadata.
 */
export class RaftWalStorage extends EngineWalStorage<Entry, HardState, RaftSnapshotExtra> {
  /** Opens the directory and reads back everything Raft needs to restart. */
  static open(opts: RaftWalStorageOptions): Promise<{ storage: RaftWalStorage; durable: EngineDurableState<Entry, HardState, RaftSnapshotExtra> | undefined }> {
    return EngineWalStorage.openWith(opts, (wal) => new RaftWalStorage(wal, raftFormat));
  }
}

/**
 * Seeds an empty data dir with a snapshot (restoring a backup, as `etcdctl snapshot restore` does):
 * the replica started on it begins at `index` with `membership`, and its log continues from there.
 * Refuses a directory that already holds Raft state.
 */
export async function writeBootstrapSnapshot(dir: string, s: { index: number; term: number; membership: Membership; data: Uint8Array }): Promise<void> {
  const { storage, durable } = await RaftWalStorage.open({ dir });
  try {
    if (durable) throw new Error(`${dir} already holds Raft state; restore into an empty directory`);
    await storage.persist({ snapshot: { index: s.index, membership: s.membership, extra: { term: s.term }, data: s.data }, records: [], meta: { term: s.term, vote: undefined, commit: s.index } });
  } finally {
    await storage.close();
  }
}

export type { Entry };
