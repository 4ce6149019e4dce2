import { sameBytes, type Membership } from '@synod/replog';
import type { ConfigEpoch, PaxosSnapshot, Slot } from './types.js';

/** Bytes a value counts for in flow control and the unchosen bound. */
export function slotBytes(s: Slot): number {
  return s.data.length + 32;
}

/**
 * An acceptor's slots: accepted values from `offset + 1` on, contiguous (an acceptor accepts only
 * right after its prefix), each with the ballot it was accepted at. Unlike a Raft log, a slot is
 * replaced on its own when a higher ballot's value arrives: the slots after it stay.
 * Also the chosen prefix (`committed`), what was handed to the state machine (`applied`), the
 * records not yet persisted, and the configurations. Pure bookkeeping; the algorithm is paxos.ts.
 */
export class PaxosLog {
  offset = 0;
  entries: Slot[] = [];
  committed = 0;
  applied = 0;
  snapshot: PaxosSnapshot | undefined;
  /** Accepted values not persisted yet: the next Ready's records. */
  unstable: Slot[] = [];
  /** Configurations by the first slot they decide, ascending; the first applies from slot 1 (or the offset). */
  configs: ConfigEpoch[];

  constructor(
    initial: Membership,
    readonly window: number,
  ) {
    this.configs = [{ from: 0, membership: initial }];
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  entry(index: number): Slot | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  /** Accepts `s` in its slot: replaces the value there, or appends right after the last slot. */
  put(s: Slot): void {
    if (s.index <= this.offset) return;
    const last = this.lastIndex();
    if (s.index > last + 1) throw new Error(`slot ${s.index} accepted after ${last}: gap`);
    if (s.index <= this.committed) {
      const mine = this.entry(s.index)!;
      if (mine.kind !== s.kind || !sameBytes(mine.data, s.data)) throw new Error(`slot ${s.index} is chosen; a different value arrived`);
    }
    if (s.index === last + 1) this.entries.push(s);
    else this.entries[s.index - this.offset - 1] = s;
    this.unstable.push(s);
  }

  /** Marks slots up to `index` chosen, learning the configurations they decide. */
  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex()) throw new Error(`commit ${index} beyond last slot ${this.lastIndex()}`);
    for (let i = this.committed + 1; i <= index; i++) {
      const e = this.entry(i);
      if (e?.kind === 'membership' && e.membership) this.addConfig({ from: i + this.window, membership: e.membership });
    }
    this.committed = index;
    return true;
  }

  addConfig(c: ConfigEpoch): void {
    const last = this.configs[this.configs.length - 1]!;
    if (c.from <= last.from) return;
    this.configs.push(c);
  }

  /** The configuration deciding slot `index` (known once `index - window` is chosen). */
  configAt(index: number): Membership {
    let m = this.configs[0]!.membership;
    for (const c of this.configs) {
      if (c.from <= index) m = c.membership;
      else break;
    }
    return m;
  }

  /** The configuration of the next slot to choose, then every later one already known. */
  activeConfigs(): Membership[] {
    const next = this.committed + 1;
    return [this.configAt(next), ...this.configs.filter((c) => c.from > next).map((c) => c.membership)];
  }

  /** Configurations from slot `index` on, for a snapshot there (the older ones are of no use). */
  configsFrom(index: number): ConfigEpoch[] {
    let start = 0;
    for (let i = 0; i < this.configs.length; i++) if (this.configs[i]!.from <= index) start = i;
    return this.configs.slice(start);
  }

  /** Values [lo, hi], at least one, then as many as fit in `maxBytes`. */
  slice(lo: number, hi: number, maxBytes: number): Slot[] {
    const out: Slot[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.offset + 1); i <= hi; i++) {
      const e = this.entry(i);
      if (!e) break;
      bytes += slotBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  nextCommitted(): Slot[] {
    if (this.committed <= this.applied) return [];
    return this.entries.slice(this.applied - this.offset, this.committed - this.offset);
  }

  /** Forgets chosen slots up to `index` (a snapshot covers them). */
  compactTo(index: number): void {
    if (index <= this.offset) return;
    if (index > this.committed) throw new Error(`compact to ${index} beyond the chosen prefix ${this.committed}`);
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
  }

  /**
   * Installs a snapshot from the leader: slots up to its index are chosen and covered; accepted
   * values after it are kept (an acceptor never forgets what it accepted), and written again since
   * the snapshot supersedes the records before it.
   */
  restore(snapshot: PaxosSnapshot): void {
    const kept = this.entries.filter((e) => e.index > snapshot.index);
    this.snapshot = snapshot;
    this.entries = kept;
    this.offset = snapshot.index;
    this.committed = Math.max(this.committed, snapshot.index);
    this.applied = snapshot.index;
    this.configs = snapshot.extra.configs.length > 0 ? snapshot.extra.configs.map((c) => ({ ...c })) : [{ from: 0, membership: snapshot.membership }];
    this.unstable = [...kept];
  }

  /** Slot of the last membership value above the chosen prefix, or 0. */
  pendingMembershipIndex(): number {
    for (let i = this.lastIndex(); i > Math.max(this.committed, this.offset); i--) if (this.entry(i)!.kind === 'membership') return i;
    return 0;
  }
}
