import { fromUtf8, utf8, type CommittedEntry } from '@synod/replog';
import { MAX_IDS_PER_COMMAND, type KvApplyResult, type KvCommand } from './commands.js';
import { KvStateMachine } from './state-machine.js';

/**
 * The store's state machine as a replica's driver applies it (libs/engine-host's StateMachine):
 * committed entries in, `KvStateMachine` state out, snapshots captured and restored. The replica
 * and the simulator apply through this same class.
 *
 * Every replica fails the same way on the same entry, so they stay identical: an entry that is not
 * JSON is applied as a no-op, and an invalid command is answered with an error through the client's
 * session (`onBadEntry` hears of both).
 */
export class ReplicatedKv {
  /** The current state (a restored snapshot replaces it wholesale). */
  sm: KvStateMachine;
  /** Commands proposed here after validation on arrival, by the bytes proposed. */
  private readonly validated = new WeakMap<Uint8Array, KvCommand>();

  constructor(
    private readonly onBadEntry: (index: number, problem: string) => void = () => {},
    options?: ConstructorParameters<typeof KvStateMachine>[0],
  ) {
    this.sm = new KvStateMachine(options);
  }

  /**
   * `cmd`, validated on arrival, is proposed as `data`: when these very bytes come back committed
   * (another leader's entry at that index would be other bytes) it is applied from the checked
   * object, skipping a JSON parse and a second schema check on the path of every write's answer.
   */
  proposing(data: Uint8Array, cmd: KvCommand): void {
    this.validated.set(data, cmd);
  }

  apply(e: CommittedEntry): KvApplyResult {
    if (e.kind !== 'command') return this.sm.apply(e.index, { type: 'noop' });
    const own = this.validated.get(e.data);
    if (own) {
      this.validated.delete(e.data);
      return this.sm.applyParsed(e.index, own);
    }
    let cmd: unknown;
    try {
      cmd = JSON.parse(fromUtf8.decode(e.data));
    } catch {
      this.onBadEntry(e.index, 'undecodable command in the log applied as a no-op');
      cmd = { type: 'noop' };
    }
    // The state machine validates the command (once) and answers an invalid one with an error.
    const result = this.sm.apply(e.index, cmd as KvCommand);
    if (!result.ok && result.error.code === 'INVALID') this.onBadEntry(e.index, `invalid command in the log answered with an error: ${result.error.message}`);
    return result;
  }

  beginSnapshot(): { chunks(): Iterable<Uint8Array> } {
    return this.sm.beginSnapshot();
  }

  restore(data: Uint8Array): void {
    this.sm = KvStateMachine.restore(data);
  }
}

/**
 * The store's leases as a replica's driver keeps their deadlines (libs/engine-host's HostLeases):
 * the lease table of the state applied, and the command that expires leases.
 */
export function kvLeases(state: ReplicatedKv): {
  table(): KvStateMachine;
  expireCommand(ids: number[]): Uint8Array;
  maxPerExpiry: number;
} {
  return {
    table: () => state.sm,
    expireCommand: (ids) => utf8.encode(JSON.stringify({ type: 'leaseExpire', ids } satisfies KvCommand)),
    maxPerExpiry: MAX_IDS_PER_COMMAND,
  };
}
