import { writeSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface RootLoggerOptions {
  service: string;
  instance: string;
  level?: LevelWithSilent;
  /** Where NDJSON goes; stdout unless a test passes a stream. */
  destination?: pino.DestinationStream;
}

/** Lines logged in one event-loop turn are held up to this many bytes before they are written anyway. */
const HELD_BYTES = 16 * 1024;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * stdout, written once per event-loop turn: lines logged by the callbacks of one turn (an access
 * line per request under load) leave in one synchronous write at `setImmediate`, instead of a
 * write each (nor an fsync, which pino's own buffered destination adds to every flush). What is
 * still held when the process exits (process.exit included) is written then.
 */
function stdoutPerTurn(): pino.DestinationStream {
  let held: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (held.length === 0) return;
    const text = held.length === 1 ? held[0]! : held.join('');
    held = [];
    bytes = 0;
    writeAll(1, Buffer.from(text));
  };
  process.on('exit', flush);
  return {
    write(line: string): void {
      held.push(line);
      bytes += line.length;
      if (bytes >= HELD_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

/** Writes all of `buf`, waiting a millisecond while a non-blocking pipe is full; a closed stdout drops it. */
function writeAll(fd: number, buf: Buffer): void {
  let rest = buf;
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
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
