import type { StatusResult } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { describeError, UsageError } from '../src/errors.js';
import { SynodError } from '@synod/protocol';
import {
  boxTable,
  clusterStatusTables,
  clusterView,
  fieldTable,
  formatClusterStatus,
  formatDelete,
  formatLeases,
  formatMembers,
  formatPut,
  formatRange,
  formatTimeToLive,
  formatTxn,
  formatWatchEvent,
  membersTable,
  moreNote,
  table,
} from '../src/format.js';

const kv = (key: string, value: string, rev: number) => ({ key, value, createRevision: rev, modRevision: rev, version: 1, lease: 0 });

const leader: StatusResult = {
  id: 'n1',
  role: 'leader',
  leader: 'n1',
  term: 3,
  commitIndex: 20,
  appliedIndex: 20,
  lastIndex: 21,
  revision: 12,
  compactRevision: 2,
  keys: 5,
  membership: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
  progress: {
    n1: { match: 21, next: 22, state: 'replicate', lag: 0 },
    n2: { match: 21, next: 22, state: 'replicate', lag: 0 },
    n3: { match: 15, next: 16, state: 'probe', lag: 6 },
    n4: { match: 0, next: 1, state: 'snapshot', lag: 21 },
  },
  engine: 'raft',
  minLeaseTtlMs: 2100,
  maxElectionTimeoutMs: 400,
};

describe('human output', () => {
  it('aligns tables', () => {
    expect(table([['A', 'LONGER'], ['xyz', '1']])).toBe('A    LONGER\nxyz  1');
  });

  it('prints keys and values etcdctl style', () => {
    const r = { revision: 3, kvs: [kv('a', '1', 1), kv('b', 'two\nlines', 2)], count: 3, more: true };
    expect(formatRange(r)).toBe('a\n1\nb\ntwo\nlines');
    expect(formatRange(r, { keysOnly: true })).toBe('a\nb');
    expect(formatRange(r, { countOnly: true })).toBe('3');
    expect(moreNote(r)).toMatch(/2 of 3 keys/);
    expect(moreNote({ ...r, more: false })).toBeUndefined();
  });

  it('prints write results', () => {
    expect(formatPut({ revision: 4 })).toBe('OK (revision 4)');
    expect(formatPut({ revision: 4, prevKv: kv('a', 'old', 2) })).toBe('OK (revision 4)\nprevious: old (version 1, mod revision 2)');
    expect(formatDelete({ revision: 5, deleted: 2 })).toBe('deleted 2 (revision 5)');
    expect(
      formatTxn({
        revision: 6,
        succeeded: false,
        results: [
          { op: 'range', revision: 6, kvs: [kv('a', '1', 1)], count: 1, more: false },
          { op: 'put', revision: 6 },
          { op: 'delete', revision: 6, deleted: 0 },
          { op: 'range', revision: 6, kvs: [], count: 0, more: false },
        ],
      }),
    ).toBe('FAILURE (revision 6)\na\n1\nOK\ndeleted 0\n(no keys)');
  });

  it('prints watch events', () => {
    expect(formatWatchEvent({ type: 'put', kv: kv('a', '1', 7) })).toBe('PUT a (revision 7)\n1');
    expect(formatWatchEvent({ type: 'delete', kv: { ...kv('a', '', 8), version: 0, createRevision: 0 }, cause: 'lease-expired', prevKv: kv('a', '1', 7) })).toBe(
      'DELETE a (revision 8, lease-expired)\nprevious: 1',
    );
  });

  it('prints leases', () => {
    expect(formatLeases([])).toBe('no leases');
    expect(formatLeases([{ id: 7, ttlMs: 5000, keys: ['a', 'b'] }])).toBe('ID  TTL_MS  KEYS\n7   5000    2');
    expect(formatTimeToLive({ id: 7, ttlMs: 5000, remainingMs: 4200, keys: ['a'] })).toBe('lease 7: TTL 5000 ms, 4200 ms remaining, keys: a');
  });

  it('shows the cluster as the leader sees it, completed by what members say', () => {
    const own = new Map<string, StatusResult | string>([
      ['n1', leader],
      ['n2', { ...leader, id: 'n2', role: 'follower', appliedIndex: 19, progress: undefined }],
      ['n3', 'TIMEOUT'],
    ]);
    const view = clusterView(leader, own);
    expect(view.members.map((m) => [m.id, m.member, m.role, m.appliedIndex, m.lag])).toEqual([
      ['n1', 'voter', 'leader', 20, 0],
      ['n2', 'voter', 'follower', 19, 0],
      ['n3', 'voter', 'unreachable', undefined, 6],
      ['n4', 'learner', 'unknown', undefined, 21],
    ]);
    expect(formatClusterStatus(view)).toBe(
      [
        'leader: n1  term: 3  engine: raft',
        'commit index: 20  applied index: 20  last index: 21',
        'revision: 12  compact revision: 2  keys: 5',
        'min lease TTL: 2100 ms',
        '',
        'NODE  MEMBER   ROLE         APPLIED  MATCH  LAG  STATE',
        'n1    voter    leader       20       21     0    -',
        'n2    voter    follower     19       21     0    replicate',
        'n3    voter    unreachable  -        15     6    probe',
        'n4    learner  unknown      -        0      21   snapshot',
      ].join('\n'),
    );
    expect(formatMembers(clusterView(leader)).split('\n')[0]).toBe('NODE  MEMBER   MATCH  LAG  STATE');
    // -w table: the leader's view in one row, then a row per member.
    const [summary, members] = clusterStatusTables(view);
    expect(summary).toEqual([
      ['LEADER', 'TERM', 'COMMIT_INDEX', 'APPLIED_INDEX', 'LAST_INDEX', 'REVISION', 'COMPACT_REVISION', 'KEYS', 'ENGINE', 'MIN_LEASE_TTL_MS'],
      ['n1', '3', '20', '20', '21', '12', '2', '5', 'raft', '2100'],
    ]);
    expect(members?.[3]).toEqual(['n3', 'voter', 'unreachable', '-', '15', '6', 'probe']);
    expect(membersTable(view)[0]).toEqual(['NODE', 'MEMBER', 'MATCH', 'LAG', 'STATE']);
  });

  it('draws boxed tables as etcdctl does; a header alone is closed under it', () => {
    expect(boxTable([['ID', 'TTL_MS'], ['12', '5000']])).toBe('+----+--------+\n| ID | TTL_MS |\n+----+--------+\n| 12 | 5000   |\n+----+--------+');
    expect(boxTable([['ID', 'TTL_MS']])).toBe('+----+--------+\n| ID | TTL_MS |\n+----+--------+');
    expect(fieldTable({ id: 12, ttlMs: 5000, keys: ['a', 'b'], prevKv: { key: 'a' }, none: undefined, gone: null })).toEqual([
      ['ID', 'TTL_MS', 'KEYS', 'PREV_KV', 'GONE'],
      ['12', '5000', 'a,b', '{"key":"a"}', '-'],
    ]);
    expect(fieldTable(7)).toEqual([['VALUE'], ['7']]);
  });
});

describe('error lines', () => {
  it('prints one line with the code and picks the exit status', () => {
    expect(describeError(new SynodError('COMPACTED', 'revision 3 is compacted'))).toEqual({ line: 'error: COMPACTED: revision 3 is compacted', exitCode: 1 });
    expect(describeError(new UsageError("missing required argument 'key'"))).toEqual({ line: "error: USAGE: missing required argument 'key'", exitCode: 2 });
    expect(describeError(new Error('boom\nsecond line'))).toEqual({ line: 'error: INTERNAL: boom; second line', exitCode: 1 });
    expect(describeError(new Error('boom'), true).line).toMatch(/^error: INTERNAL: boom\nError: boom\n\s+at /);
  });
});
