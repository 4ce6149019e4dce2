import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { commitReach, type ReplicationHints } from '@synod/replog';
import { NoticeHold, systemClock } from '../src/index.js';

type M = { from: string; to: string; type: string; prevIndex?: number; entries?: { data: Uint8Array }[]; commit?: number; notice?: boolean };

/** Replication is `app`, as Raft's; a heartbeat carries a commit index but is not replication. */
const hints: ReplicationHints<M> = {
  isAppend: (m) => m.type === 'app',
  appendEnd: () => undefined,
  ackIndex: () => undefined,
  commitReach: (m) => (m.type === 'app' ? commitReach({ to: m.to, prevIndex: m.prevIndex!, entries: m.entries!, commit: m.commit! }) : undefined),
  isNotice: (m) => m.notice === true,
  merge: () => undefined,
};

const notice = (to: string, match: number, commit: number): M => ({ from: 'n1', to, type: 'app', prevIndex: match, entries: [], commit, notice: true });
const app = (to: string, prevIndex: number, n: number, commit: number): M => ({ from: 'n1', to, type: 'app', prevIndex, entries: Array.from({ length: n }, () => ({ data: new Uint8Array(0) })), commit });
const heartbeat = (to: string, commit: number): M => ({ from: 'n1', to, type: 'heartbeat', commit });
const show = (m: M): string => `${m.notice ? 'notice' : m.type}>${m.to}@${m.commit}`;

describe('NoticeHold: commit notices wait for an append that carries them', () => {
  let sent: string[][];
  let hold: NoticeHold<M>;
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    hold = new NoticeHold<M>((ms) => sent.push(ms.map(show)), 5, hints, systemClock);
  });
  afterEach(() => {
    hold.stop();
    vi.useRealTimers();
  });

  it('sends a notice after the delay when nothing else goes to that follower', () => {
    hold.send([notice('n2', 4, 4), notice('n3', 4, 4)]);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(4);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([['notice>n2@4', 'notice>n3@4']]);
    expect(hold.stats).toEqual({ sent: 2, dropped: 0 });
  });

  it("drops a notice when the follower's next append commits as far, and only that follower's", () => {
    hold.send([notice('n2', 4, 4), notice('n3', 4, 4)]);
    hold.send([app('n2', 4, 1, 4)]); // the next entry, carrying commit 4: n2 commits min(4, 5) = 4
    expect(sent).toEqual([['app>n2@4']]);
    vi.advanceTimersByTime(5);
    expect(sent).toEqual([['app>n2@4'], ['notice>n3@4']]);
    expect(hold.stats).toEqual({ sent: 1, dropped: 1 });
  });

  it('keeps a notice that a message reaching less far, or of another kind, does not carry', () => {
    hold.send([notice('n2', 6, 6)]);
    hold.send([app('n2', 2, 1, 6)]); // a resend of entry 3: n2 may commit only to 3
    hold.send([heartbeat('n2', 6)]); // not a replication message
    vi.advanceTimersByTime(5);
    expect(sent).toEqual([['app>n2@6'], ['heartbeat>n2@6'], ['notice>n2@6']]);
  });

  it('keeps only the newest notice per follower', () => {
    hold.send([notice('n2', 4, 4)]);
    hold.send([notice('n2', 5, 5)]);
    vi.advanceTimersByTime(5);
    expect(sent).toEqual([['notice>n2@5']]);
    expect(hold.stats).toEqual({ sent: 1, dropped: 1 });
  });

  it('sends every message at once with a delay of 0, and nothing after stop', () => {
    const direct: string[][] = [];
    const now = new NoticeHold<M>((ms) => direct.push(ms.map(show)), 0, hints, systemClock);
    now.send([notice('n2', 4, 4), app('n3', 4, 1, 4)]);
    expect(direct).toEqual([['notice>n2@4', 'app>n3@4']]);
    hold.send([notice('n2', 4, 4)]);
    hold.stop();
    vi.advanceTimersByTime(10);
    expect(sent).toEqual([]);
  });
});
