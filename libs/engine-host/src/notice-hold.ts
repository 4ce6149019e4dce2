import type { Addressed, NodeId, ReplicationHints } from '@synod/replog';
import type { Clock } from './clock.js';

/**
 * Sends a leader's messages, holding its commit notices back for up to `delayMs`. A notice only
 * tells a follower that entries it holds are committed; the leader's next replication message to
 * that follower says the same (it carries the commit index), so under a steady write load the
 * notice is dropped and never costs a message. Idle, a follower learns of a commit `delayMs` later
 * than it would have (its stale reads and the watches it serves lag by that much), never later.
 * A message may always be sent later than the Ready contract allows, or not at all when another
 * one carries what it said, so holding is safe.
 */
export class NoticeHold<M extends Addressed> {
  private readonly held = new Map<NodeId, { m: M; reach: number }>();
  private timer: unknown;
  /** Notices sent, and notices dropped because a later message carried their commit (metrics, tests). */
  readonly stats = { sent: 0, dropped: 0 };

  constructor(
    private readonly out: (messages: M[]) => void,
    private readonly delayMs: number,
    private readonly hints: ReplicationHints<M>,
    private readonly clock: Clock,
  ) {}

  send(messages: M[]): void {
    const now: M[] = [];
    for (const m of messages) {
      // How far a follower that takes `m` may commit; undefined for a message that is not replication.
      const reach = this.hints.commitReach(m);
      const held = this.held.get(m.to);
      if (reach !== undefined && this.delayMs > 0 && this.hints.isNotice(m)) {
        // A newer notice replaces an older one to the same follower.
        if (!held || reach >= held.reach) this.held.set(m.to, { m, reach });
        if (held) this.stats.dropped++;
        this.timer ??= this.clock.setTimer(() => this.flush(), this.delayMs);
        continue;
      }
      if (held && reach !== undefined && reach >= held.reach) {
        this.held.delete(m.to);
        this.stats.dropped++;
      }
      now.push(m);
    }
    if (now.length > 0) this.out(now);
  }

  /** Sends every notice still held. */
  flush(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (this.held.size === 0) return;
    const notices = [...this.held.values()].map((h) => h.m);
    this.held.clear();
    this.stats.sent += notices.length;
    this.out(notices);
  }

  /** Drops what is held (the replica is stopping). */
  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.held.clear();
  }
}
