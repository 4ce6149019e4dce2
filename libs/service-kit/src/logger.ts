import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface RootLoggerOptions {
  service: string;
  instance: string;
  level?: LevelWithSilent;
  /** Where NDJSON goes; stdout unless a test passes a stream. */
  destination?: pino.DestinationStream;
}

/** Lines written in one event-loop turn are held up to this many bytes before they are written anyway. */
const HELD_BYTES = 8192;

/**
 * stdout, written once per event-loop turn: lines logged by the callbacks of one turn (an access
 * line per request under load) leave in one synchronous write at `setImmediate`, instead of a
 * write each. What is still held when the process exits (process.exit included) is written then.
 */
function stdoutPerTurn(): pino.DestinationStream {
  const sonic = pino.destination({ dest: 1, sync: true, minLength: HELD_BYTES });
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    sonic.flushSync();
  };
  process.on('exit', () => sonic.flushSync());
  return {
    write(line: string): void {
      sonic.write(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
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
    opts.destination ?? stdoutPerTurn(),
  );
}
