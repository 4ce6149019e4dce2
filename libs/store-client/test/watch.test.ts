import { SynodError, type WatchEvent } from '@synod/protocol';
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StoreClient, type StoreWatch } from '../src/index.js';
import { FakeClock, HANG, fakeTransport, kv, settle } from './fakes.js';

interface FakeWatch {
  inbox: string;
  key: string;
  prefix: boolean;
  next: number;
  once: boolean;
}

/** The store's history, and replicas that push it to watches as the real ones do. */
class FakeCluster {
  rev = 0;
  compactRev = 0;
  log: WatchEvent[] = [];
  readonly replicas = new Map<string, { alive: boolean; hang: boolean; sloppy: number; watches: Map<string, FakeWatch> }>();
  /** Which replica the `kv.any` queue group hands the next watch to. */
  order: string[] = [];
  renewMs = 1000;
  /** Push a new watch's backlog before answering its start (the events overtake the answer). */
  eager = false;
  publish: (subject: string, msg: unknown) => void = () => undefined;

  constructor(ids: string[]) {
    for (const id of ids) this.replicas.set(id, { alive: true, hang: false, sloppy: 0, watches: new Map() });
  }

  /** One revision; several keys make a txn (several events at one revision). */
  write(...keys: string[]): number {
    this.rev++;
    for (const k of keys) this.log.push({ type: 'put', kv: kv(k, `v${this.rev}`, this.rev) });
    this.pumpAll();
    return this.rev;
  }

  pumpAll(): void {
    for (const id of this.replicas.keys()) this.pump(id);
  }

  pump(id: string): void {
    const r = this.replicas.get(id)!;
    if (!r.alive) return;
    for (const [watchId, w] of r.watches) {
      if (w.next <= this.compactRev) {
        this.publish(w.inbox, { type: 'ended', watchId, error: { code: 'COMPACTED', message: `revision ${w.next} is compacted`, retryable: false } });
        r.watches.delete(watchId);
        continue;
      }
      const events = this.log.filter((e) => e.kv.modRevision >= w.next && (w.prefix ? e.kv.key.startsWith(w.key) : e.kv.key === w.key));
      w.next = this.rev + 1;
      if (events.length > 0) {
        this.publish(w.inbox, { type: 'events', watchId, events, revision: this.rev });
        if (w.once) r.watches.delete(watchId);
      }
    }
  }

  kill(id: string): void {
    this.replicas.get(id)!.alive = false;
  }

  handle(subject: string, body: Record<string, unknown>): unknown {
    if (subject === 'unit.kv.leader') {
      if (body.type === 'range') return { revision: this.rev, kvs: [], count: 0, more: false };
      throw new SynodError('BAD_REQUEST', 'unexpected');
    }
    if (subject === 'unit.kv.any') {
      const alive = [...this.replicas.keys()].filter((id) => this.replicas.get(id)!.alive);
      if (alive.length === 0) throw new SynodError('NO_RESPONDERS', 'none');
      const id = this.order.shift() ?? alive[0]!;
      const r = this.replicas.get(id)!;
      const from = body.fromRevision as number;
      if (from !== 0 && from <= this.compactRev) throw new SynodError('COMPACTED', `revision ${from} is compacted`);
      const filter = body.filter as { key: string; prefix?: boolean };
      // A sloppy replica starts a few revisions early (the client must drop what it had).
      r.watches.set(body.watchId as string, { inbox: body.inbox as string, key: filter.key, prefix: filter.prefix === true, next: Math.max(1, from - r.sloppy), once: body.once === true });
      if (this.eager) this.pump(id);
      else setImmediate(() => this.pump(id));
      return { watchId: body.watchId, node: id, renewMs: this.renewMs };
    }
    const m = /^unit\.kv\.watch\.(\w+)$/.exec(subject);
    if (m) {
      const r = this.replicas.get(m[1]!)!;
      if (!r.alive) throw new SynodError('NO_RESPONDERS', `no responders on ${subject}`);
      if (r.hang) return HANG;
      if (body.type === 'watchRenew') {
        const ids = body.watchIds as string[];
        return { renewed: ids.filter((i) => r.watches.has(i)).length, missing: ids.filter((i) => !r.watches.has(i)) };
      }
      if (body.type === 'watchCancel') return { cancelled: r.watches.delete(body.watchId as string) };
    }
    throw new SynodError('NO_RESPONDERS', `no responders on ${subject}`);
  }
}

function setup(ids = ['n1', 'n2', 'n3']) {
  const clock = new FakeClock();
  const cluster = new FakeCluster(ids);
  const t = fakeTransport(clock, (s) => cluster.handle(s.subject, s.body));
  cluster.publish = t.publish;
  const client = new StoreClient({ namespace: 'unit', clientId: 'cid', request: t.request, subscribe: t.subscribe, createInbox: t.createInbox, clock, random: () => 0.5 });
  return { clock, cluster, client, t };
}

function consume(w: StoreWatch) {
  const state = { revs: [] as number[], keys: [] as string[], error: undefined as unknown, done: false };
  void (async () => {
    try {
      for await (const ev of w) {
        state.revs.push(ev.kv.modRevision);
        state.keys.push(ev.kv.key);
      }
    } catch (err) {
      state.error = err;
    }
    state.done = true;
  })();
  return state;
}

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('watch', () => {
  it('subscribes first, starts after the current revision and delivers events in order', async () => {
    const { cluster, client, t } = setup();
    cluster.write('a');
    cluster.write('a');
    const w = client.watch({ key: 'a' });
    const got = consume(w);
    await w.ready;
    const create = t.sent.find((s) => s.body.type === 'watch')!;
    expect(create.subject).toBe('unit.kv.any');
    expect(create.body.fromRevision).toBe(3);
    expect(t.subs.has(create.body.inbox as string)).toBe(true);
    cluster.write('a');
    cluster.write('b');
    cluster.write('a');
    await settle();
    expect(got.revs).toEqual([3, 5]);
    expect(w.node).toBe('n1');
    await w.return();
    expect(got.done).toBe(true);
  });

  it('renews every renewMs on the serving replica', async () => {
    const { clock, client, t } = setup();
    const w = client.watch({ key: 'a', fromRevision: 1 });
    await w.ready;
    await clock.advance(3500);
    const renewals = t.sent.filter((s) => s.body.type === 'watchRenew');
    expect(renewals.map((s) => s.subject)).toEqual(['unit.kv.watch.n1', 'unit.kv.watch.n1', 'unit.kv.watch.n1']);
    expect(w.resumes).toBe(0);
    await w.return();
  });

  it('resumes on another replica after its replica dies, without gaps or duplicates', async () => {
    const { clock, cluster, client, t } = setup();
    cluster.order = ['n1', 'n2'];
    const w = client.watch({ key: 'k/', prefix: true, fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    for (let i = 0; i < 3; i++) cluster.write(`k/${i}`);
    await settle();
    expect(got.revs).toEqual([1, 2, 3]);
    cluster.kill('n1');
    cluster.write('k/x');
    cluster.write('k/y', 'k/z'); // a txn: two events at one revision
    cluster.write('other');
    cluster.write('k/w');
    // A sloppy replica replays from earlier than asked: the client drops what it had.
    cluster.replicas.get('n2')!.sloppy = 3;
    await clock.advance(1000);
    expect(w.resumes).toBe(1);
    expect(w.node).toBe('n2');
    const creates = t.sent.filter((s) => s.body.type === 'watch');
    expect(creates.map((s) => s.body.fromRevision)).toEqual([1, 4]);
    expect(creates[0]?.body.inbox).not.toBe(creates[1]?.body.inbox);
    expect(creates[0]?.body.watchId).not.toBe(creates[1]?.body.watchId);
    cluster.write('k/after');
    await settle();
    expect(got.revs).toEqual([1, 2, 3, 4, 5, 5, 7, 8]);
    expect(got.keys.slice(4, 6)).toEqual(['k/y', 'k/z']);
    expect(got.error).toBeUndefined();
    await w.return();
  });

  it('drops a repeated message and ignores messages of an earlier life', async () => {
    const { clock, cluster, client, t } = setup();
    cluster.order = ['n1', 'n2'];
    const w = client.watch({ key: 'a', fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    cluster.write('a');
    await settle();
    const first = t.sent.find((s) => s.body.type === 'watch')!;
    const repeat = { type: 'events', watchId: first.body.watchId, events: [{ type: 'put', kv: kv('a', 'v1', 1) }], revision: 1 };
    t.publish(first.body.inbox as string, repeat);
    cluster.kill('n1');
    await clock.advance(1000);
    expect(w.node).toBe('n2');
    // The old inbox is unsubscribed; even a message for the old id on the new inbox is ignored.
    const second = t.sent.filter((s) => s.body.type === 'watch')[1]!;
    expect(t.subs.has(first.body.inbox as string)).toBe(false);
    t.publish(second.body.inbox as string, { ...repeat, watchId: first.body.watchId, events: [{ type: 'put', kv: kv('a', 'v9', 9) }], revision: 9 });
    cluster.write('a');
    await settle();
    expect(got.revs).toEqual([1, 2]);
    await w.return();
  });

  it('resumes when the replica no longer knows the watch, or a renewal times out', async () => {
    const { clock, cluster, client } = setup();
    cluster.order = ['n1', 'n2', 'n3'];
    const w = client.watch({ key: 'a', fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    cluster.write('a');
    await settle();
    cluster.replicas.get('n1')!.watches.clear(); // dropped (not renewed in time)
    cluster.write('a');
    await clock.advance(1000);
    expect(w.node).toBe('n2');
    cluster.replicas.get('n2')!.hang = true;
    await clock.advance(1000); // renewal sent
    await clock.advance(1000); // and timed out
    expect(w.node).toBe('n3');
    cluster.write('a');
    await settle();
    expect(got.revs).toEqual([1, 2, 3]);
    expect(w.resumes).toBe(2);
    await w.return();
  });

  it('resumes after a malformed message (it may have held events)', async () => {
    const { clock, cluster, client, t } = setup();
    cluster.order = ['n1', 'n1'];
    const w = client.watch({ key: 'a', fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    const inbox = t.sent.find((s) => s.body.type === 'watch')!.body.inbox as string;
    cluster.replicas.get('n1')!.alive = false; // its pushes are lost
    cluster.write('a');
    cluster.replicas.get('n1')!.alive = true;
    t.publish(inbox, '{"type":"events","garbage');
    await clock.advance(0);
    expect(w.resumes).toBe(1);
    await settle();
    expect(got.revs).toEqual([1]);
    await w.return();
  });

  it('keeps trying to resume while no replica answers, then continues', async () => {
    const { clock, cluster, client } = setup(['n1', 'n2']);
    cluster.order = ['n1'];
    const w = client.watch({ key: 'a', fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    cluster.kill('n1');
    cluster.kill('n2');
    cluster.write('a');
    await clock.advance(20_000);
    expect(got.error).toBeUndefined();
    cluster.replicas.get('n2')!.alive = true;
    await clock.advance(2000);
    expect(w.node).toBe('n2');
    await settle();
    expect(got.revs).toEqual([1]);
    await w.return();
  });

  it('throws COMPACTED from the iterator when the store ends the watch, after the events it had', async () => {
    const { clock, cluster, client } = setup();
    cluster.order = ['n1', 'n2'];
    const w = client.watch({ key: 'a', fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    cluster.write('a');
    await settle();
    cluster.kill('n1');
    cluster.write('a');
    cluster.write('a');
    cluster.compactRev = 3; // revision 2 is gone before the watch resumes
    await clock.advance(1000);
    await settle();
    expect(got.revs).toEqual([1]);
    expect(got.error).toBeInstanceOf(SynodError);
    expect(got.error).toMatchObject({ code: 'COMPACTED' });
    expect(got.done).toBe(true);
  });

  it('a start at a compacted revision rejects ready and throws from the iterator', async () => {
    const { cluster, client } = setup();
    cluster.rev = 10;
    cluster.compactRev = 5;
    const w = client.watch({ key: 'a', fromRevision: 2 });
    await expect(w.ready).rejects.toMatchObject({ code: 'COMPACTED' });
    await expect(w.next()).rejects.toMatchObject({ code: 'COMPACTED' });
    await expect(w.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('leaves nothing on a long-lived signal once a watch ends, cancelled or failed', async () => {
    const { cluster, client } = setup();
    const controller = new AbortController();
    const cancelled = client.watch({ key: 'a', fromRevision: 1, signal: controller.signal });
    await cancelled.ready;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await cancelled.return();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    cluster.rev = 10;
    cluster.compactRev = 5;
    const failed = client.watch({ key: 'a', fromRevision: 2, signal: controller.signal });
    await expect(failed.ready).rejects.toMatchObject({ code: 'COMPACTED' });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(controller.signal.aborted).toBe(false);
  });

  it('an abort ends the iterator, cancels on the replica and unsubscribes', async () => {
    const { cluster, client, t } = setup();
    const controller = new AbortController();
    const w = client.watch({ key: 'a', fromRevision: 1, signal: controller.signal });
    const got = consume(w);
    await w.ready;
    cluster.write('a');
    await settle();
    controller.abort();
    await settle();
    expect(got.done).toBe(true);
    expect(got.error).toBeUndefined();
    expect(got.revs).toEqual([1]);
    const cancel = t.sent.find((s) => s.body.type === 'watchCancel')!;
    expect(cancel.subject).toBe('unit.kv.watch.n1');
    expect(t.subs.size).toBe(0);
    expect(cluster.replicas.get('n1')!.watches.size).toBe(0);
  });

  it('break in for-await cancels the watch', async () => {
    const { cluster, client, t } = setup();
    const w = client.watch({ key: 'a', fromRevision: 1 });
    await w.ready;
    cluster.write('a');
    cluster.write('a');
    const seen: number[] = [];
    for await (const ev of w) {
      seen.push(ev.kv.modRevision);
      break;
    }
    expect(seen).toEqual([1]);
    expect(t.sent.some((s) => s.body.type === 'watchCancel')).toBe(true);
    expect(t.subs.size).toBe(0);
    await expect(w.next()).resolves.toMatchObject({ done: true });
  });

  it('a one-shot watch yields its first delivery and ends, with no cancel sent and nothing left behind', async () => {
    for (const eager of [false, true]) {
      const { cluster, client, t } = setup();
      cluster.eager = eager;
      cluster.write('a', 'a/x'); // one revision, two events: one message
      cluster.write('a');
      const w = client.watch({ key: 'a', prefix: true, fromRevision: 1, once: true, noPut: true });
      const got = consume(w);
      await w.ready;
      await settle();
      const create = t.sent.find((s) => s.body.type === 'watch')!;
      expect(create.body).toMatchObject({ once: true, filter: { key: 'a', prefix: true, noPut: true } });
      // Both revisions were in the backlog: one message, all of it delivered, then done.
      expect(got.revs).toEqual([1, 1, 2]);
      expect(got.done).toBe(true);
      expect(got.error).toBeUndefined();
      cluster.write('a');
      await settle();
      expect(got.revs).toEqual([1, 1, 2]);
      expect(t.sent.filter((s) => s.body.type === 'watchCancel')).toEqual([]);
      expect(t.subs.size).toBe(0);
      expect(cluster.replicas.get('n1')!.watches.size).toBe(0);
      await w.cancel();
      expect(t.sent.filter((s) => s.body.type === 'watchCancel')).toEqual([]);
    }
  });

  it('a one-shot watch with nothing yet waits for the first change; cancelled before it, it cancels on the replica', async () => {
    const { cluster, client, t } = setup();
    const w = client.watch({ key: 'a', once: true });
    const got = consume(w);
    await w.ready;
    await settle();
    expect(got.done).toBe(false);
    cluster.write('b');
    cluster.write('a');
    await settle();
    expect(got.revs).toEqual([2]);
    expect(got.done).toBe(true);
    const w2 = client.watch({ key: 'a', once: true });
    await w2.ready;
    await w2.cancel();
    expect(t.sent.filter((s) => s.body.type === 'watchCancel')).toHaveLength(1);
  });

  it('delivers a long history across many resumes exactly once', async () => {
    const { clock, cluster, client } = setup(['n1', 'n2', 'n3']);
    const w = client.watch({ key: '', prefix: true, fromRevision: 1 });
    const got = consume(w);
    await w.ready;
    let victim = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) cluster.write(`k${round}`, `j${round}`);
      await settle();
      const serving = w.node!;
      cluster.kill(serving);
      cluster.replicas.get(serving)!.watches.clear();
      // The previous victim comes back, so one is always alive.
      for (const [id, r] of cluster.replicas) if (id !== serving) r.alive = true;
      cluster.replicas.get(serving)!.sloppy = (victim++ % 3) + 1;
      cluster.order = [[...cluster.replicas.keys()].find((id) => id !== serving)!];
      cluster.write(`k${round}`);
      await clock.advance(1000);
      cluster.replicas.get(serving)!.alive = true;
    }
    await settle();
    const expected = range(1, cluster.rev).flatMap((r) => (cluster.log.filter((e) => e.kv.modRevision === r).map(() => r)));
    expect(got.revs).toEqual(expected);
    expect(w.resumes).toBe(10);
    await w.return();
  });
});
