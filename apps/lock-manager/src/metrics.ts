import { Counter, Gauge, Histogram, type Logger, type Registry } from '@synod/service-kit';

/** What the lock manager's gauges read at scrape time. */
export interface LockMetricsSource {
  /** Store writes made, and the store requests that carried them. */
  storeWrites(): { txns: number; requests: number };
  /** Acquire requests waiting in line on this instance. */
  waiting(): number;
  /** Holds in the store (every instance sees the same); may fail when the store is unreachable. */
  holds(): Promise<number>;
  log: Logger;
}

/** Lock waits last from a hand-off's milliseconds to a holder's whole lease (tens of seconds). */
const WAIT_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Every metric of a lock manager, on `registry`. */
export class LockMetrics {
  readonly requests: Counter<'outcome' | 'code'>;
  readonly grants: Counter<'mode'>;
  readonly grantsOnWakeup: Counter;
  readonly wakeups: Counter;
  readonly waits: Counter;
  readonly waitDuration: Histogram<'mode'>;
  readonly expiries: Counter;
  readonly fencingRefusals: Counter;

  constructor(registry: Registry, source: LockMetricsSource) {
    const registers = [registry];
    this.requests = new Counter({ name: 'synod_lock_requests_total', help: 'Lock manager requests answered, by outcome and code', labelNames: ['outcome', 'code'], registers });
    this.grants = new Counter({ name: 'synod_lock_grants_total', help: 'Locks granted', labelNames: ['mode'], registers });
    this.grantsOnWakeup = new Counter({
      name: 'synod_lock_grants_on_wakeup_total',
      help: 'Grants decided from the wake-up itself (the next in line, its watch on the whole name), with no re-read of the line',
      registers,
    });
    this.wakeups = new Counter({
      name: 'synod_lock_wakeups_total',
      help: 'Waiters woken by the deletion of a key they watched (each then re-checks ownership once)',
      registers,
    });
    this.waits = new Counter({ name: 'synod_lock_waits_total', help: 'Acquire requests that found the lock taken and waited in line', registers });
    this.waitDuration = new Histogram({
      name: 'synod_lock_wait_duration_seconds',
      help: 'Time from an acquire request to its grant (near zero for a free lock)',
      labelNames: ['mode'],
      buckets: WAIT_BUCKETS_SECONDS,
      registers,
    });
    this.expiries = new Counter({
      name: 'synod_lock_expiries_total',
      help: 'Lock keys that went away because their lease expired (a holder or waiter died), as seen by the waiters behind them',
      registers,
    });
    this.fencingRefusals = new Counter({
      name: 'synod_lock_fencing_refusals_total',
      help: 'Releases refused because the fencing token named no current holder (expired, revoked, released already, or stale)',
      registers,
    });
    new Counter({
      name: 'synod_lock_store_writes_total',
      help: 'Lock manager writes to the store, and the store requests that carried them (several per request when batched)',
      labelNames: ['kind'],
      registers,
      collect() {
        const w = source.storeWrites();
        this.reset();
        this.inc({ kind: 'txns' }, w.txns);
        this.inc({ kind: 'requests' }, w.requests);
      },
    });
    new Gauge({
      name: 'synod_lock_waiting',
      help: 'Acquire requests waiting in line on this instance',
      registers,
      collect() {
        this.set(source.waiting());
      },
    });
    new Gauge({
      name: 'synod_locks_held',
      help: 'Lock holds in the store, every instance seeing the same (a read lock or a semaphore counts each holder); read at scrape time',
      registers,
      async collect() {
        try {
          this.set(await source.holds());
        } catch (err) {
          // The store is unreachable: the last count stands (the replicas' own alerts say why).
          source.log.debug({ err }, 'held locks not counted');
        }
      },
    });
  }
}
