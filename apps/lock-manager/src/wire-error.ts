import { SynodError, isErrorCode, type ErrorEnvelope } from '@synod/protocol';

/**
 * An error whose wire code may not be in the catalog yet (`NOT_HOLDER`, `CONFLICT`): it travels
 * as a SynodError through the EndpointServer, and its envelope carries the wire code. Once the
 * catalog holds the code, the code is used natively.
 */
export class LockWireError extends SynodError {
  constructor(
    readonly wireCode: string,
    message: string,
    opts: { retryable: boolean; details?: unknown },
  ) {
    super(isErrorCode(wireCode) ? wireCode : 'BAD_REQUEST', message, opts);
  }

  override toEnvelope(): ErrorEnvelope {
    const env = super.toEnvelope();
    env.error.code = this.wireCode;
    return env;
  }
}

export function notHolder(message: string, details?: unknown): LockWireError {
  return new LockWireError('NOT_HOLDER', message, { retryable: false, details });
}

export function conflict(message: string, currentVersion: number): LockWireError {
  return new LockWireError('CONFLICT', message, { retryable: false, details: { currentVersion } });
}
