import type { Logger } from 'pino';

export interface DropSummaryOptions {
  /** The log line's message, e.g. 'invalid peer messages dropped'. */
  msg: string;
  /** At most one line per this many ms. */
  intervalMs?: number;
  /** Distinct reasons kept apart per line; the rest are counted under `other`. */
  maxReasons?: number;
}

/**
 * Logs input a process drops (malformed bus messages, garbage on a subject) as a bounded summary,
 * throttled: the first drop after a quiet interval is logged at once, the drops that follow within
 * the interval as one `warn` line at its end, with counts per reason and one example each. A flood
 * of hostile messages costs at most two lines per interval instead of a line (and a stack) per
 * message. Reasons are normalized (numbers and quoted values elided) so values inside messages do
 * not make new ones.
 */
export class DropSummary {
  private readonly intervalMs: number;
  private readonly maxReasons: number;
  private counts = new Map<string, number>();
  private examples = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Everything dropped since the process started. */
  total = 0;

  constructor(
    private readonly log: Logger,
    private readonly opts: DropSummaryOptions,
  ) {
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.maxReasons = opts.maxReasons ?? 16;
  }

  /** Counts one dropped input; `reason` is normalized, `example` kept (truncated) as the reason's first. */
  record(reason: string, example?: string): void {
    this.total++;
    let key = normalizeReason(reason);
    if (!this.counts.has(key) && this.counts.size >= this.maxReasons) key = 'other';
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (example !== undefined && !this.examples.has(key)) this.examples.set(key, example.slice(0, 200));
    if (this.timer === undefined) {
      // Quiet until now: say so at once, then gather the rest of the interval.
      this.write();
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Writes the pending summary now and ends the interval (also on stop). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
  }

  stop(): void {
    this.flush();
  }

  private write(): void {
    if (this.counts.size === 0) return;
    const dropped = Object.fromEntries(this.counts);
    const examples = Object.fromEntries(this.examples);
    const count = [...this.counts.values()].reduce((a, b) => a + b, 0);
    this.counts = new Map();
    this.examples = new Map();
    this.log.warn({ count, dropped, examples, intervalMs: this.intervalMs }, this.opts.msg);
  }
}

/** A reason with its variable parts elided: digits, quoted values, and anything past 80 characters. */
export function normalizeReason(reason: string): string {
  return reason
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N')
    .slice(0, 80);
}
