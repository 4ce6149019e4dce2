export { Wal, DEFAULT_SEGMENT_BYTES } from './wal.js';
export { SnapshotFile, SnapshotWriter } from './snapshot-file.js';
export type { AppendResult, Snapshot, WalOptions, WalRecord, WalStats, WalWarning } from './wal.js';
export { WalError, WalCorruptionError, WAL_ERROR_CODES } from './errors.js';
export type { WalErrorCode } from './errors.js';
export { crc32c } from './crc32c.js';
export { EngineWalStorage, seedEngineWal } from './engine-storage.js';
export type { EngineDurableState, LocalSnapshotWriter } from './engine-storage.js';
