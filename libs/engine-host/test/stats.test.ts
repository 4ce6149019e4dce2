import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { ConsensusEngine, EngineStatus, ProposeResult, Ready, ReplicationHints, Snapshot, SnapshotBytes } from '@synod/replog';
import { SynodError } from '@synod/protocol';
import { EngineHost, type Clock } from '../src/index.js';

interface Msg {
  from: string;
  to: string;
}

type Scripted = Ready<Msg, number, never>;

const empty = (): Scripted => ({ records: [], messages: [], committed: [], readStates: [] });

/**
 * An engine that plays back what the test queues: Readys, and the answer to the next proposal.
 * Whatever it commits is whatever the test says (an entry of another leader at a proposal's index).
 */
class Playback implements ConsensusEngine<Msg, number, never> {
  readonly id = 'n1';
  readonly queued: Scripted[] = [];
  proposeAnswer: ProposeResult = { ok: true, index: 1 };
  status(): EngineStatus {
    return { id: 'n1', role: 'follower', leader: undefined, epoch: 1, commitIndex: 0, appliedIndex: 0, lastIndex: 0, membership: { voters: ['n1', 'n2', 'n3'], learners: [] } };
  }
  tick(): void {}
  step(): void {}
  propose(): ProposeResult {
    return this.proposeAnswer;
  }
  readIndex(): { ok: true } {
    return { ok: true };
  }
  proposeMembership(): ProposeResult {
    return this.proposeAnswer;
  }
  transferLeadership(): { ok: true } {
    return { ok: true };
  }
  snapshotTaken(index: number, data: SnapshotBytes): Snapshot {
    return { index, membership: { voters: ['n1'], learners: [] }, extra: undefined, data };
  }
  hasReady(): boolean {
    return this.queued.length > 0;
  }
  ready(): Scripted {
    return this.queued.shift()!;
  }
  advance(): void {}
}

const hints: ReplicationHints<Msg> = {
  isAppend: () => false,
  appendEnd: () => undefined,
  ackIndex: () => undefined,
  commitReach: () => undefined,
  isNotice: () => false,
  merge: () => undefined,
};

/** A clock the test moves: the snapshot's duration is what the test says it is. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  return {
    now: () => now,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
    soon: (fn) => queueMicrotask(fn),
    advance(ms) {
      now += ms;
    },
  };
}

function setup(snapshotEvery = 0) {
  const engine = new Playback();
  const clock = manualClock();
  const taken: { bytes: number; ms: number }[] = [];
  const chunks = [new Uint8Array(300), new Uint8Array(200)];
  const host = new EngineHost<Msg, number, never, string>({
    engine,
    storage: {
      persist: () => undefined,
      beginLocalSnapshot: () => {
        let written = 0;
        return Promise.resolve({
          write: (c: Uint8Array) => {
            written += c.length;
            clock.advance(250);
            return Promise.resolve();
          },
          data: () => new Uint8Array(written) as never,
          commit: () => Promise.resolve(),
          abort: () => Promise.resolve(),
        });
      },
    },
    sm: { apply: () => 'ok', beginSnapshot: () => ({ chunks: () => chunks }), restore: () => {} },
    send: () => {},
    hints,
    log: pino({ level: 'silent' }),
    onFatal: () => {},
    engineName: 'playback',
    tickMs: 1000,
    snapshotEvery,
    clock,
    onSnapshotTaken: (s) => taken.push(s),
  });
  return { engine, host, taken };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('EngineHost: what it counts for metrics', () => {
  it('counts a leader change each time a different leader is seen, not each role change', async () => {
    const { engine, host } = setup();
    host.start();
    const soft = (role: 'leader' | 'follower' | 'candidate', leader: string | undefined, epoch: number): Scripted => ({ ...empty(), softState: { role, leader, epoch } });
    // n2 leads; this node campaigns (no leader), n2 is seen again, then n3, then this node itself.
    engine.queued.push(soft('follower', 'n2', 2), soft('candidate', undefined, 3), soft('follower', 'n2', 3), soft('follower', 'n3', 4), soft('leader', 'n1', 5));
    host.receive({ from: 'n2', to: 'n1' });
    await settle();
    expect(host.stats.leaderChanges).toBe(3);
    await host.stop();
  });

  it('counts failed proposals by reason: the engine refusal, an entry lost to another leader, shutting down', async () => {
    const { engine, host } = setup();
    host.start();
    engine.proposeAnswer = { ok: false, code: 'NOT_LEADER', retryable: true, message: 'not the leader' };
    await expect(host.propose(new Uint8Array([1]))).rejects.toMatchObject({ code: 'NOT_LEADER' });
    await expect(host.propose(new Uint8Array([1]))).rejects.toMatchObject({ code: 'NOT_LEADER' });
    engine.proposeAnswer = { ok: true, index: 1 };
    const lost = host.propose(new Uint8Array([7]));
    await settle();
    // Another leader's entry commits at index 1.
    engine.queued.push({ ...empty(), committed: [{ index: 1, kind: 'command', data: new Uint8Array([9]) }] });
    host.receive({ from: 'n2', to: 'n1' });
    await expect(lost).rejects.toBeInstanceOf(SynodError);
    expect(host.appliedIndex).toBe(1);
    await host.stop();
    await expect(host.propose(new Uint8Array([1]))).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(Object.fromEntries(host.stats.proposalsFailed)).toEqual({ NOT_LEADER: 2, LOST: 1, SHUTTING_DOWN: 1 });
  });

  it("reports each local snapshot's size and duration on the clock it was given", async () => {
    const { engine, host, taken } = setup(2);
    host.start();
    engine.queued.push({
      ...empty(),
      committed: [
        { index: 1, kind: 'command', data: new Uint8Array([1]) },
        { index: 2, kind: 'command', data: new Uint8Array([2]) },
      ],
    });
    host.receive({ from: 'n2', to: 'n1' });
    for (let i = 0; i < 50 && taken.length === 0; i++) await settle();
    expect(taken).toEqual([{ bytes: 500, ms: 500 }]);
    expect(host.snapshotBytes).toBe(500);
    await host.stop();
  });
});
