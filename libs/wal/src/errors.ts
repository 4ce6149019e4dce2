/**
 * Stable error codes (callers switch on them) and whether the same call may succeed if made again.
 * - WAL_CORRUPT: data on disk fails its checks where a crash cannot explain it. Never retryable:
 *   an operator has to look (the message names the file and byte offset).
 * - WAL_CLOSED: the log was closed.
 * - WAL_FAILED: a write or sync of the log or the metadata failed earlier. After a failed fsync
 *   the kernel may have dropped the dirty pages, so nothing written since can be trusted: close and
 *   open again (recovery truncates whatever tail was torn).
 * - WAL_ALREADY_OPEN: this process already has the directory open.
 * - WAL_BAD_ARGUMENT: the call itself is wrong (empty batch, bad id, bad option).
 * - WAL_IO: a snapshot could not be written or read; the log itself is unaffected, so it may be
 *   retried.
 */
export const WAL_ERROR_CODES = ['WAL_CORRUPT', 'WAL_CLOSED', 'WAL_FAILED', 'WAL_ALREADY_OPEN', 'WAL_BAD_ARGUMENT', 'WAL_IO'] as const;
export type WalErrorCode = (typeof WAL_ERROR_CODES)[number];

const RETRYABLE: Record<WalErrorCode, boolean> = {
  WAL_CORRUPT: false,
  WAL_CLOSED: false,
  WAL_FAILED: false,
  WAL_ALREADY_OPEN: false,
  WAL_BAD_ARGUMENT: false,
  WAL_IO: true,
};

export class WalError extends Error {
  override readonly name: string = 'WalError';
  readonly code: WalErrorCode;
  readonly retryable: boolean;

  constructor(code: WalErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = RETRYABLE[code];
  }
}

/** Damage on disk that a crash cannot explain: the log refuses to open (or to replay) past it. */
export class WalCorruptionError extends WalError {
  override readonly name: string = 'WalCorruptionError';
  override readonly code = 'WAL_CORRUPT' as const;
  /** Absolute path of the damaged file. */
  readonly file: string;
  /** Byte offset in `file` where the damage starts (the start of the bad record or header). */
  readonly offset: number;

  constructor(file: string, offset: number, reason: string, options: { cause?: unknown } = {}) {
    super('WAL_CORRUPT', `WAL corrupt: ${file} at byte offset ${offset}: ${reason}`, options);
    this.file = file;
    this.offset = offset;
  }
}
