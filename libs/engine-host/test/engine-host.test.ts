import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { CommittedEntry, ConsensusEngine, EngineStatus, Ready, ReplicationHints } from '@synod/replog';
import { EngineHost, type EngineStorage, type StateMachine } from '../src/index.js';

interface Msg {
  from: string;
  to: string;
  kind: 'append' | 'ack' | 'notice';
}
interface Meta {
  commit: number;
}

/**
 * A scripted leader: a proposal gets index 1 and a Ready that writes it and sends appends early;
 * an ack then commits it with a Ready that writes nothing, moves the commit index in the meta and
 * carries commit notices as early messages (what Raft's leader produces).
 */
class ScriptedLeader implements ConsensusEngine<Msg, number, Meta> {
  readonly id = 'n1';
  private queued: Ready<Msg, number, Meta>[] = [];
  private applied = 0;
  private data: Uint8Array = new Uint8Array();

  tick(): void {}
  step(m: Msg): void {
    if (m.kind === 'append') {
      // As a follower: write the next entry, acknowledge it, apply what the append committed.
      this.queued.push({
        records: [2],
        sendBeforePersist: [],
        messages: [{ from: 'n1', to: 'n2', kind: 'ack' }],
        committed: [{ index: 1, kind: 'command', data: new Uint8Array([1]) }],
        readStates: [],
      });
      return;
    }
    if (m.kind !== 'ack') return;
    const entry: CommittedEntry = { index: 1, kind: 'command', data: this.data };
    this.queued.push({
      records: [],
      meta: { commit: 1 },
      sendBeforePersist: [
        { from: 'n1', to: 'n2', kind: 'notice' },
        { from: 'n1', to: 'n3', kind: 'notice' },
      ],
      messages: [],
      committed: [entry],
      readStates: [],
    });
    this.applied = 1;
  }
  propose(data: Uint8Array): { ok: true; index: number } {
    this.data = data;
    this.queued.push({
      records: [1],
      sendBeforePersist: [
        { from: 'n1', to: 'n2', kind: 'append' },
        { from: 'n1', to: 'n3', kind: 'append' },
      ],
      messages: [],
      committed: [],
      readStates: [],
    });
    return { ok: true, index: 1 };
  }
  readIndex(): { ok: true } {
    return { ok: true };
  }
  proposeMembership(): { ok: true; index: number } {
    return { ok: true, index: 0 };
  }
  transferLeadership(): { ok: true } {
    return { ok: true };
  }
  snapshotTaken(): never {
    throw new Error('not in this script');
  }
  status(): EngineStatus {
    return { id: 'n1', role: 'leader', leader: 'n1', epoch: 1, commitIndex: this.applied, appliedIndex: this.applied, lastIndex: 1, membership: { voters: ['n1', 'n2', 'n3'], learners: [] } };
  }
  hasReady(): boolean {
    return this.queued.length > 0;
  }
  ready(): Ready<Msg, number, Meta> {
    return this.queued.shift()!;
  }
  advance(): void {}
}

function setup() {
  const events: string[] = [];
  const storage: EngineStorage<Msg, number, Meta> = {
    // As the WAL storage does: nothing to write (a commit index alone) is answered synchronously.
    persist: (rd) => {
      events.push(`persist records=${rd.records.length}`);
      return rd.records.length === 0 ? undefined : new Promise((r) => setTimeout(r, 5));
    },
    beginLocalSnapshot: () => Promise.reject(new Error('not in this script')),
  };
  // The scripted messages carry no commit index: nothing is held back or merged.
  const hints: ReplicationHints<Msg> = {
    isAppend: () => false,
    appendEnd: () => undefined,
    ackIndex: () => undefined,
    commitReach: () => undefined,
    isNotice: () => false,
    merge: () => undefined,
  };
  const sm: StateMachine<string> = {
    apply: (e) => {
      events.push(`apply ${e.index}`);
      return 'ok';
    },
    beginSnapshot: () => ({ chunks: () => [] }),
    restore: () => {},
  };
  const host = new EngineHost<Msg, number, Meta, string>({
    engine: new ScriptedLeader(),
    storage,
    sm,
    // As the NATS client does: publish buffers, and the buffer is written in a microtask.
    send: (ms) => {
      const what = ms.map((m) => `${m.kind}>${m.to}`).join(',');
      events.push(`send ${what}`);
      queueMicrotask(() => events.push(`wire ${what}`));
    },
    hints,
    log: pino({ level: 'silent' }),
    onFatal: (err) => events.push(`fatal ${err.message}`),
    engineName: 'scripted',
    tickMs: 1000,
    snapshotEvery: 0,
  });
  return { host, events };
}

/** Waits until `events` holds `n` lines (the storage's 5 ms write is late on a loaded machine), up to 5 s. */
async function until(events: string[], n: number): Promise<void> {
  for (const end = Date.now() + 5000; events.length < n && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
  // Anything that would wrongly follow comes within the next few milliseconds.
  await new Promise((r) => setTimeout(r, 20));
}

describe('EngineHost: the order of sends, persists and answers', () => {
  it("sends a leader's appends before persisting its own copy", async () => {
    const { host, events } = setup();
    host.start();
    const answered = host.propose(new Uint8Array([1]));
    await until(events, 3);
    // ...and lets the bus client put them on the wire before its own disk write starts.
    expect(events).toEqual(['send append>n2,append>n3', 'wire append>n2,append>n3', 'persist records=1']);
    await host.stop();
    await answered.catch(() => undefined);
  });

  it('answers the client of a committed entry before sending the commit notices, though the commit index moved', async () => {
    const { host, events } = setup();
    host.start();
    const answered = host.propose(new Uint8Array([1])).then((r) => events.push(`answered ${r.index} ${r.result}`));
    await until(events, 3);
    host.receive({ from: 'n2', to: 'n1', kind: 'ack' });
    await answered;
    await until(events, 8);
    expect(events.slice(3)).toEqual(['persist records=0', 'apply 1', 'answered 1 ok', 'send notice>n2,notice>n3', 'wire notice>n2,notice>n3']);
    await host.stop();
  });

  it("puts a follower's acknowledgement on the wire before applying the entries the same append committed", async () => {
    const { host, events } = setup();
    host.start();
    host.receive({ from: 'n2', to: 'n1', kind: 'append' });
    await until(events, 4);
    expect(events).toEqual(['persist records=1', 'send ack>n2', 'wire ack>n2', 'apply 1']);
    await host.stop();
  });
});
