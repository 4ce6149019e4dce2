import type {
  CompactResult,
  DeleteResult,
  KeepAliveResult,
  KeyValue,
  LeaseGrantResult,
  LeaseInfo,
  LeaseRevokeResult,
  PutResult,
  RangeResult,
  StatusResult,
  TimeToLiveResult,
  TxnOpResult,
  TxnResult,
  WatchEvent,
} from '@synod/protocol';

/** Human output of every command (pure: text in, text out). JSON output is the results themselves. */

/** Rows of cells; the first row is the header. */
export type Table = readonly (readonly string[])[];

/** Columns padded to their widest cell, two spaces apart; the first row is the header. */
export function table(rows: Table): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** `-w table`, drawn as etcdctl draws its tables: a box around the header and around the rows. */
export function boxTable(rows: Table): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (row: readonly string[]) => `| ${widths.map((w, i) => (row[i] ?? '').padEnd(w)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [rule, line(header ?? []), rule, ...(body.length > 0 ? [...body.map(line), rule] : [])].join('\n');
}

/** Several tables, one after the other. */
export function boxTables(tables: readonly Table[]): string {
  return tables.map(boxTable).join('\n');
}

/** `revision` → `REVISION`, `ttlMs` → `TTL_MS`. */
function columnName(field: string): string {
  return field.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '-';
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.join(',');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** One result as a one-row table of its fields (nested values as JSON), for commands with no table of their own. */
export function fieldTable(value: unknown): Table {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [['VALUE'], [cellText(value)]];
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return [entries.map(([k]) => columnName(k)), entries.map(([, v]) => cellText(v))];
}

/** `kv get` / `kv range` with `-w table`. */
export function rangeTable(r: RangeResult, opts: { keysOnly?: boolean; countOnly?: boolean } = {}): Table {
  if (opts.countOnly) return [['COUNT'], [String(r.count)]];
  if (opts.keysOnly) return [['KEY'], ...r.kvs.map((kv) => [kv.key])];
  return [['KEY', 'VALUE', 'CREATE_REVISION', 'MOD_REVISION', 'VERSION', 'LEASE'], ...r.kvs.map((kv) => [kv.key, kv.value, String(kv.createRevision), String(kv.modRevision), String(kv.version), String(kv.lease)])];
}

/** `kv get --print-value-only`: each value on its own line, as etcdctl prints them. */
export function formatValues(kvs: readonly KeyValue[]): string {
  return kvs.map((kv) => kv.value).join('\n');
}

/** etcdctl style: the key on one line, its value on the next. */
export function formatKvs(kvs: readonly KeyValue[], keysOnly = false): string {
  return kvs.map((kv) => (keysOnly ? kv.key : `${kv.key}\n${kv.value}`)).join('\n');
}

export function formatRange(r: RangeResult, opts: { keysOnly?: boolean; countOnly?: boolean } = {}): string {
  if (opts.countOnly) return String(r.count);
  return formatKvs(r.kvs, opts.keysOnly);
}

/** A note for stderr when a limit cut the answer short, else undefined. */
export function moreNote(r: RangeResult): string | undefined {
  return r.more ? `(${r.kvs.length} of ${r.count} keys shown; raise --limit or page with a larger first key)` : undefined;
}

export function formatPut(r: PutResult): string {
  const prev = r.prevKv ? `\nprevious: ${r.prevKv.value} (version ${r.prevKv.version}, mod revision ${r.prevKv.modRevision})` : '';
  return `OK (revision ${r.revision})${prev}`;
}

export function formatDelete(r: DeleteResult): string {
  const prev = r.prevKvs && r.prevKvs.length > 0 ? `\n${formatKvs(r.prevKvs)}` : '';
  return `deleted ${r.deleted} (revision ${r.revision})${prev}`;
}

function formatTxnOpResult(r: TxnOpResult): string {
  switch (r.op) {
    case 'put':
      return 'OK';
    case 'delete':
      return `deleted ${r.deleted}`;
    case 'range':
      return r.kvs.length === 0 ? '(no keys)' : formatKvs(r.kvs);
  }
}

/** SUCCESS or FAILURE (the branch taken), then one block per operation of that branch. */
export function formatTxn(r: TxnResult): string {
  return [`${r.succeeded ? 'SUCCESS' : 'FAILURE'} (revision ${r.revision})`, ...r.results.map(formatTxnOpResult)].join('\n');
}

export function formatCompact(r: CompactResult): string {
  return `compacted at revision ${r.compactRevision} (revision ${r.revision})`;
}

/** etcdctl style: PUT or DELETE, the key, the value (for a put). */
export function formatWatchEvent(ev: WatchEvent): string {
  const head = `${ev.type.toUpperCase()} ${ev.kv.key} (revision ${ev.kv.modRevision}${ev.cause ? `, ${ev.cause}` : ''})`;
  const lines = ev.type === 'put' ? [head, ev.kv.value] : [head];
  if (ev.prevKv) lines.push(`previous: ${ev.prevKv.value}`);
  return lines.join('\n');
}

export function formatLeaseGrant(r: LeaseGrantResult): string {
  return `lease ${r.id} granted with TTL ${r.ttlMs} ms`;
}

export function formatLeaseRevoke(id: number, r: LeaseRevokeResult): string {
  return `lease ${id} revoked (${r.deleted} key${r.deleted === 1 ? '' : 's'} deleted, revision ${r.revision})`;
}

export function formatTimeToLive(r: TimeToLiveResult): string {
  const keys = r.keys.length === 0 ? 'no keys attached' : `keys: ${r.keys.join(', ')}`;
  return `lease ${r.id}: TTL ${r.ttlMs} ms, ${r.remainingMs} ms remaining, ${keys}`;
}

export function leasesTable(leases: readonly LeaseInfo[]): Table {
  return [['ID', 'TTL_MS', 'KEYS'], ...leases.map((l) => [String(l.id), String(l.ttlMs), String(l.keys.length)])];
}

export function formatLeases(leases: readonly LeaseInfo[]): string {
  if (leases.length === 0) return 'no leases';
  return table(leasesTable(leases));
}

export function formatKeepAlive(r: KeepAliveResult): string {
  return `lease ${r.id} kept alive (TTL ${r.ttlMs} ms)`;
}

// ------------------------------------------------------------------ cluster

export interface MemberView {
  id: string;
  /** voter or learner. */
  member: 'voter' | 'learner';
  /** The role the member reports itself (leader, follower, ...), or 'unreachable'. */
  role: string;
  /** The member's own applied index, when it answered. */
  appliedIndex?: number;
  /** Replication progress as the leader sees it. */
  match?: number;
  next?: number;
  state?: string;
  /** Entries behind the leader's last index. */
  lag?: number;
  /** Why the member did not answer. */
  error?: string;
}

export interface ClusterView {
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  revision: number;
  compactRevision: number;
  keys: number;
  engine: string;
  /** The smallest lease TTL the store grants (shorter grants are raised to it). */
  minLeaseTtlMs: number;
  members: MemberView[];
}

/**
 * The cluster as the leader sees it (membership, progress and lag), completed with what each member
 * says of itself (`own`: its status, or an error message when it did not answer).
 */
export function clusterView(leader: StatusResult, own: ReadonlyMap<string, StatusResult | string> = new Map()): ClusterView {
  const ids = [...leader.membership.voters.map((id) => [id, 'voter'] as const), ...leader.membership.learners.map((id) => [id, 'learner'] as const)];
  const members = ids.map(([id, member]): MemberView => {
    const view: MemberView = { id, member, role: id === leader.id ? leader.role : 'unknown' };
    const p = leader.progress?.[id];
    // The leader's own entry has no meaningful replication state.
    if (p) Object.assign(view, { match: p.match, next: p.next, lag: p.lag }, id === leader.id ? {} : { state: p.state });
    const s = own.get(id);
    if (typeof s === 'string') {
      view.role = 'unreachable';
      view.error = s;
    } else if (s) {
      view.role = s.role;
      view.appliedIndex = s.appliedIndex;
    } else if (id === leader.id) {
      view.appliedIndex = leader.appliedIndex;
    }
    return view;
  });
  return {
    leader: leader.leader,
    term: leader.term,
    commitIndex: leader.commitIndex,
    appliedIndex: leader.appliedIndex,
    lastIndex: leader.lastIndex,
    revision: leader.revision,
    compactRevision: leader.compactRevision,
    keys: leader.keys,
    engine: leader.engine,
    minLeaseTtlMs: leader.minLeaseTtlMs,
    members,
  };
}

const cell = (n: number | string | undefined) => (n === undefined ? '-' : String(n));

function memberRows(v: ClusterView): Table {
  return [
    ['NODE', 'MEMBER', 'ROLE', 'APPLIED', 'MATCH', 'LAG', 'STATE'],
    ...v.members.map((m) => [m.id, m.member, m.role, cell(m.appliedIndex), cell(m.match), cell(m.lag), cell(m.state)]),
  ];
}

export function formatClusterStatus(v: ClusterView): string {
  const head = [
    `leader: ${v.leader ?? '(none)'}  term: ${v.term}  engine: ${v.engine}`,
    `commit index: ${v.commitIndex}  applied index: ${v.appliedIndex}  last index: ${v.lastIndex}`,
    `revision: ${v.revision}  compact revision: ${v.compactRevision}  keys: ${v.keys}`,
    `min lease TTL: ${v.minLeaseTtlMs} ms`,
  ];
  return `${head.join('\n')}\n\n${table(memberRows(v))}`;
}

/** `cluster status -w table`: the leader's view, then the members. */
export function clusterStatusTables(v: ClusterView): Table[] {
  const { members: _members, ...summary } = v;
  return [fieldTable(summary), memberRows(v)];
}

export function membersTable(v: ClusterView): Table {
  return [['NODE', 'MEMBER', 'MATCH', 'LAG', 'STATE'], ...v.members.map((m) => [m.id, m.member, cell(m.match), cell(m.lag), cell(m.state)])];
}

export function formatMembers(v: ClusterView): string {
  return table(membersTable(v));
}
