import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appScript, startNats, startReplicas, uniqueNamespace, type AppProcess, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NODES = ['n1', 'n2', 'n3'];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** synodctl, built (dist/main.js), against three real replicas. */
describe('synodctl against a three-replica store', () => {
  let nats: NatsFixture;
  let ns: string;
  let dataRoot: string;
  let cli: string;
  const apps: AppProcess[] = [];

  /** Runs `synodctl --nats <url> --namespace <ns> ...args`. */
  function ctl(...args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      execFile(process.execPath, [cli, '--nats', nats.url, '--namespace', ns, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    cli = appScript('synodctl');
    nats = await startNats();
    ns = uniqueNamespace('ctl');
    dataRoot = await mkdtemp(join(tmpdir(), 'synodctl-'));
    apps.push(...(await startReplicas({ natsUrl: nats.url, namespace: ns, ids: NODES, dataRoot })));
    // Until a leader is elected, status keeps answering NO_RESPONDERS (after its retries).
    for (let i = 0; ; i++) {
      const r = await ctl('cluster', 'status', '--json', '--timeout', '2000');
      if (r.code === 0 && (JSON.parse(r.stdout) as { leader: string | null }).leader) break;
      if (i === 20) throw new Error(`no leader: ${r.stderr}`);
    }
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.kill()));
    await nats?.stop();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  });

  it('puts, gets, ranges and deletes keys, in human and JSON output', async () => {
    const put = await ctl('kv', 'put', 'cfg/a', 'hello world');
    expect(put).toMatchObject({ code: 0, stderr: '' });
    expect(put.stdout).toMatch(/^OK \(revision \d+\)\n$/);
    expect((await ctl('kv', 'put', 'cfg/b', '2')).code).toBe(0);

    expect(await ctl('kv', 'get', 'cfg/a')).toEqual({ code: 0, stdout: 'cfg/a\nhello world\n', stderr: '' });
    const json = await ctl('kv', 'get', 'cfg/a', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ kvs: [{ key: 'cfg/a', value: 'hello world', version: 1, lease: 0 }], count: 1, more: false });
    expect(await ctl('kv', 'get', 'cfg/missing')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await ctl('kv', 'get', 'cfg/a', '--print-value-only')).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
    expect((await ctl('kv', 'get', 'cfg/a', '-w', 'table')).stdout).toMatch(/^\+-+\+.*\n\| KEY +\| VALUE +\|.*\n\+-+\+.*\n\| cfg\/a +\| hello world \|/);

    expect((await ctl('kv', 'get', 'cfg/', '--prefix', '--keys-only')).stdout).toBe('cfg/a\ncfg/b\n');
    const range = await ctl('kv', 'range', 'cfg/', '--sort', 'createRevision', '--order', 'desc', '--limit', '1');
    expect(range.stdout).toBe('cfg/b\n2\n');
    expect(range.stderr).toMatch(/1 of 2 keys shown/);
    const rangeJson = JSON.parse((await ctl('kv', 'range', 'cfg/', '--json')).stdout) as { kvs: { key: string }[]; count: number };
    expect(rangeJson.kvs.map((k) => k.key)).toEqual(['cfg/a', 'cfg/b']);

    const del = await ctl('kv', 'del', 'cfg/', '--prefix');
    expect(del.code).toBe(0);
    expect(del.stdout).toMatch(/^deleted 2 \(revision \d+\)\n$/);
    expect((await ctl('kv', 'get', 'cfg/', '--prefix', '--count-only')).stdout).toBe('0\n');
  });

  it('runs transactions', async () => {
    const first = await ctl('kv', 'txn', '--if', 'txn/leader exists = false', '--then', 'put txn/leader n1', '--else', 'get txn/leader');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^SUCCESS \(revision \d+\)\nOK\n$/);
    const second = await ctl('kv', 'txn', '--if', 'txn/leader exists = false', '--then', 'put txn/leader n2', '--else', 'get txn/leader');
    expect(second.stdout).toMatch(/^FAILURE \(revision \d+\)\ntxn\/leader\nn1\n$/);
    const json = JSON.parse((await ctl('kv', 'txn', '--if', 'txn/leader value = n1', '--then', 'put txn/leader "n 3"', '--json')).stdout) as { succeeded: boolean };
    expect(json.succeeded).toBe(true);
    expect((await ctl('kv', 'get', 'txn/leader')).stdout).toBe('txn/leader\nn 3\n');
  });

  it('grants a lease, attaches a key, and shows its TTL', async () => {
    const grant = await ctl('lease', 'grant', '60000');
    expect(grant.code).toBe(0);
    const id = /^lease (\d+) granted with TTL 60000 ms\n$/.exec(grant.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await ctl('kv', 'put', 'leased/k', 'v', '--lease', id!)).code).toBe(0);
    const ttl = await ctl('lease', 'ttl', id!);
    expect(ttl.stdout).toMatch(new RegExp(`^lease ${id}: TTL 60000 ms, \\d+ ms remaining, keys: leased/k\\n$`));
    const ttlJson = JSON.parse((await ctl('lease', 'ttl', id!, '--json')).stdout) as { id: number; ttlMs: number; remainingMs: number; keys: string[] };
    expect(ttlJson).toMatchObject({ id: Number(id), ttlMs: 60000, keys: ['leased/k'] });
    expect(ttlJson.remainingMs).toBeLessThanOrEqual(60000);
    const list = await ctl('lease', 'list');
    expect(list.stdout).toMatch(new RegExp(`^ID\\s+TTL_MS\\s+KEYS\\n${id}\\s+60000\\s+1$`, 'm'));
    expect((await ctl('lease', 'revoke', id!)).stdout).toMatch(new RegExp(`^lease ${id} revoked \\(1 key deleted, revision \\d+\\)\\n$`));
    const gone = await ctl('lease', 'ttl', id!);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: LEASE_NOT_FOUND: /);
  });

  it('shows the cluster status, as a table and as JSON', async () => {
    const human = await ctl('cluster', 'status');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^leader: n[123] {2}term: \d+ {2}engine: raft\ncommit index: \d+ {2}applied index: \d+ {2}last index: \d+\nrevision: \d+/);
    expect(human.stdout).toMatch(/NODE\s+MEMBER\s+ROLE\s+APPLIED\s+MATCH\s+LAG\s+STATE/);
    for (const id of NODES) expect(human.stdout).toMatch(new RegExp(`^${id}\\s+voter\\s+(leader|follower)\\s+\\d+\\s+\\d+\\s+\\d+`, 'm'));
    const view = JSON.parse((await ctl('cluster', 'status', '--json')).stdout) as {
      leader: string;
      term: number;
      commitIndex: number;
      appliedIndex: number;
      members: { id: string; member: string; role: string; lag: number }[];
    };
    expect(NODES).toContain(view.leader);
    expect(view.commitIndex).toBeGreaterThan(0);
    expect(view.members.map((m) => [m.id, m.member])).toEqual(NODES.map((id) => [id, 'voter']));
    expect(view.members.filter((m) => m.role === 'leader').map((m) => m.id)).toEqual([view.leader]);
    expect(view.members.every((m) => typeof m.lag === 'number')).toBe(true);
    const members = await ctl('cluster', 'members');
    expect(members.stdout.split('\n')[0]).toMatch(/^NODE\s+MEMBER\s+MATCH\s+LAG\s+STATE$/);
  });

  it('prints watch events until interrupted', async () => {
    const child = spawn(process.execPath, [cli, '--nats', nats.url, '--namespace', ns, 'kv', 'watch', 'w/', '--prefix', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // The watch starts after the current revision: keep writing until it shows up.
      for (let i = 0; !out.includes('"w/late"'); i++) {
        if (i === 100) throw new Error(`no watch output: ${out}`);
        await ctl('kv', 'put', 'w/late', String(i));
      }
      await ctl('kv', 'del', 'w/late');
      while (!out.includes('"delete"')) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const events = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; kv: { key: string; modRevision: number } });
      expect(events.at(-1)).toMatchObject({ type: 'delete', kv: { key: 'w/late' } });
      const revs = events.map((e) => e.kv.modRevision);
      expect(revs).toEqual([...revs].sort((a, b) => a - b));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('saves a snapshot atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synodctl-snap-'));
    try {
      const file = join(dir, 'store.snap');
      const r = await ctl('snapshot', 'save', file, '--json');
      expect(r.code).toBe(0);
      const info = JSON.parse(r.stdout) as { file: string; bytes: number; revision: number };
      expect(info.file).toBe(file);
      expect((await readFile(file)).length).toBe(info.bytes);
      expect(info.bytes).toBeGreaterThan(0);
      expect(await readdir(dir)).toEqual(['store.snap']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails with the store error code: exit 1, one line, no stack trace', async () => {
    const future = await ctl('kv', 'get', 'x', '--revision', '100000000');
    expect(future.code).toBe(1);
    expect(future.stdout).toBe('');
    expect(future.stderr).toMatch(/^error: FUTURE_REVISION: .+\n$/);

    const p = await ctl('kv', 'put', 'compacted/k', '1', '--json');
    const rev = (JSON.parse(p.stdout) as { revision: number }).revision;
    await ctl('kv', 'put', 'compacted/k', '2');
    expect((await ctl('kv', 'compact', String(rev + 1))).code).toBe(0);
    const compacted = await ctl('kv', 'get', 'compacted/k', '--revision', String(rev));
    expect(compacted.code).toBe(1);
    expect(compacted.stderr).toMatch(/^error: COMPACTED: .+\n$/);
    expect(compacted.stderr).not.toMatch(/\bat /);
  });

  it('rejects a bad command line with exit 2 before touching the store', async () => {
    const r = await ctl('kv', 'get', 'a', '--limit', 'lots');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: USAGE: option '--limit <n>' argument 'lots' is invalid/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const txn = await ctl('kv', 'txn', '--then', 'move a b');
    expect(txn.code).toBe(2);
    expect(txn.stderr).toMatch(/^error: USAGE: unknown txn operation "move"/);
  });

  it('reports an unreachable NATS server as UNAVAILABLE, exit 1', async () => {
    const r = await new Promise<Result>((resolve) =>
      execFile(process.execPath, [cli, '--nats', 'nats://127.0.0.1:1', '--timeout', '1000', 'kv', 'get', 'a'], (err, stdout, stderr) =>
        resolve({ code: err && typeof err.code === 'number' ? err.code : 0, stdout, stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: UNAVAILABLE: cannot connect to NATS/);
  });
});
