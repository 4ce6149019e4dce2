import { describe, expect, it } from 'vitest';
import { raftHints, type RaftMessage } from '../src/index.js';

type M = RaftMessage;
const entry = (index: number) => ({ index, term: 1, type: 'normal' as const, data: new Uint8Array(1) });
/** An append of `n` entries after `prevIndex`. */
const app = (to: string, prevIndex: number, n = 1): M =>
  ({ type: 'app', from: 'n1', to, term: 1, prevIndex, prevTerm: 1, entries: Array.from({ length: n }, (_, i) => entry(prevIndex + 1 + i)), commit: prevIndex }) as M;
const heartbeat = (to: string): M => ({ type: 'heartbeat', from: 'n1', to, term: 1, commit: 0, readRound: 1 }) as M;

describe("Raft's replication hints (what thrifty replication merges)", () => {
  it('merges only consecutive appends of one term, never a commit notice, and up to 256 KiB of entries', () => {
    const merge = raftHints.merge;
    const a = app('n3', 0, 2);
    expect(merge(a, app('n3', 2, 3))).toMatchObject({ prevIndex: 0, entries: [{ index: 1 }, { index: 2 }, { index: 3 }, { index: 4 }, { index: 5 }] });
    expect(merge(a, app('n3', 3))).toBeUndefined(); // a gap
    expect(merge(a, { ...app('n3', 2), term: 2 } as M)).toBeUndefined();
    expect(merge(a, { ...app('n3', 2), notice: true } as M)).toBeUndefined();
    expect(merge(a, heartbeat('n3'))).toBeUndefined();
    expect(merge(a, app('n2', 2))).toBeUndefined();
    const big = (prevIndex: number) => ({ ...app('n3', prevIndex), entries: [{ ...entry(prevIndex + 1), data: new Uint8Array(200 * 1024) }] }) as M;
    expect(merge(big(0), big(1))).toBeUndefined();
    expect((merge(a, app('n3', 2)) as { commit: number }).commit).toBe(2);
  });

});
