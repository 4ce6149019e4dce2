import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface RootLoggerOptions {
  service: string;
  instance: string;
  level?: LevelWithSilent;
  /** Where NDJSON goes; stdout unless a test passes a stream. */
  destination?: pino.DestinationStream;
}

/**
 * The one root logger of a process: NDJSON on stdout with `service` and `instance` on every line.
 * Components take children (`log.child({ component: 'registry' })`). Errors go under `err`.
 */
export function createRootLogger(opts: RootLoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service, instance: opts.instance, pid: process.pid },
      redact: { paths: ['*.password', '*.token', 'headers.authorization'], censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
