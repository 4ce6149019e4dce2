export { Wal, DEFAULT_SEGMENT_BYTES } from './wal.js';
export type { AppendResult, Snapshot, WalOptions, WalRecord, WalStats, WalWarning } from './wal.js';
export { WalError, WalCorruptionError, WAL_ERROR_CODES } from './errors.js';
export type { WalErrorCode } from './errors.js';
export { crc32c } from './crc32c.js';
