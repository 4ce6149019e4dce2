import type { Membership } from '@synod/replog';
import type { Entry, RaftSnapshot } from './types.js';

/** Bytes an entry counts for in flow control and the uncommitted bound. */
export function entryBytes(e: Entry): number {
  return e.data.length + 24;
}

/**
 * The in-memory Raft log: entries after `offset` (the index below the first kept entry), the
 * latest snapshot, what is durable (`stable`), committed and handed out to the state machine
 * (`applied`). Pure bookkeeping; the algorithm lives in raft.ts.
 */
export class RaftLog {
  /** Index of the entry before entries[0] (0 on an empty log; moves up on compaction). */
  offset = 0;
  offsetTerm = 0;
  entries: Entry[] = [];
  /** Last index persisted by the driver (entries after it go out in the next Ready). */
  stable = 0;
  committed = 0;
  /** Last index handed out in Ready.committed. */
  applied = 0;
  snapshot: RaftSnapshot | undefined;
  /** The configuration in force at `offset` (before the first kept entry). */
  baseMembership: Membership;

  constructor(initial: Membership) {
    this.baseMembership = initial;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.offsetTerm : this.entries[this.entries.length - 1]!.term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  /** Term of `index`, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm();
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex());
  }

  /** Appends entries that continue the log exactly (leader side). */
  append(entries: Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex() + 1) throw new Error(`append out of order: ${e.index} after ${this.lastIndex()}`);
      this.entries.push(e);
    }
  }

  /**
   * Follower side of AppendEntries (§5.3): if the log matches at (prevIndex, prevTerm), drops any
   * conflicting suffix and appends what is new. Returns the index of the last new entry, or
   * undefined when the log does not match. Returns whether a conflict truncated the log.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: Entry[]): { last: number; truncated: boolean } | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    let truncated = false;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      // Compacted entries are committed, so they match.
      if (e.index <= this.offset) continue;
      const mine = this.term(e.index);
      if (mine === e.term) continue;
      if (mine !== undefined) {
        if (e.index <= this.committed) throw new Error(`conflict at committed index ${e.index} (committed ${this.committed})`);
        this.truncateFrom(e.index);
        truncated = true;
      }
      this.append(entries.slice(i));
      break;
    }
    return { last: prevIndex + entries.length, truncated };
  }

  /** Drops entries from `index` on; what was durable of them is superseded by the next records. */
  truncateFrom(index: number): void {
    this.entries.length = Math.max(0, index - this.offset - 1);
    if (this.stable >= index) this.stable = index - 1;
  }

  /**
   * The largest index ≤ `index` whose term is ≤ `term`: where a rejected leader should probe next
   * (skips a whole divergent term at a time instead of one entry).
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.offset) {
      const t = this.term(i)!;
      if (t <= term) break;
      i--;
    }
    return i;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    if (index > this.lastIndex()) throw new Error(`commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Entries [lo, hi], at least one, then as many as fit in `maxBytes`. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi; i++) {
      const e = this.entry(i)!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  unstableEntries(): Entry[] {
    return this.stable >= this.lastIndex() ? [] : this.entries.slice(Math.max(0, this.stable - this.offset));
  }

  /** Committed entries not yet handed to the state machine. */
  nextCommitted(): Entry[] {
    if (this.committed <= this.applied) return [];
    return this.entries.slice(this.applied - this.offset, this.committed - this.offset);
  }

  /** Forgets entries up to `index` (they are covered by a snapshot at or above it). */
  compactTo(index: number): void {
    if (index <= this.offset) return;
    const term = this.term(index);
    if (term === undefined) throw new Error(`compact to ${index} outside the log`);
    this.baseMembership = this.membershipAt(index);
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
  }

  /** Replaces the whole log with a snapshot (a follower installing the leader's snapshot). */
  restore(snapshot: RaftSnapshot): void {
    this.snapshot = snapshot;
    this.baseMembership = snapshot.membership;
    this.entries = [];
    this.offset = snapshot.index;
    this.offsetTerm = snapshot.extra.term;
    this.committed = Math.max(this.committed, snapshot.index);
    this.applied = snapshot.index;
    this.stable = snapshot.index;
  }

  /** The configuration in force at `index`: the last membership entry at or before it. */
  membershipAt(index: number): Membership {
    for (let i = Math.min(index, this.lastIndex()); i > this.offset; i--) {
      const e = this.entry(i)!;
      if (e.type === 'membership' && e.membership) return e.membership;
    }
    return this.baseMembership;
  }

  /** Index of the last membership entry in the log (0 if none is kept). */
  lastMembershipIndex(): number {
    for (let i = this.lastIndex(); i > this.offset; i--) if (this.entry(i)!.type === 'membership') return i;
    return 0;
  }
}
