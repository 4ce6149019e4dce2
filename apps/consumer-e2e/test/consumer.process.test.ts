import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { AppProcess, appScript, startNats, startReplicas, uniqueNamespace, workspaceRoot, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importedPackages, outDirOf, packedProblems, readPublished, type Published } from '../src/packages.js';

/**
 * A hang guard for the steps that run npm or the compiler (no speed is asserted here: the suite
 * prints each step's time). Generous, because CI machines are shared.
 */
const SLOW_STEP_MS = 240_000;

interface Run {
  stdout: string;
  stderr: string;
}

/** The environment of an npm run inside `npm test`, less what would tie a child npm to this workspace. */
function outsideEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_/.test(key) || key === 'npm_config_local_prefix' || key === 'INIT_CWD') delete env[key];
  }
  return env;
}

function run(file: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: opts.cwd, env: opts.env ?? outsideEnv(), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')} failed (${err.code ?? err.signal}):\n${stderr}\n${stdout}`.slice(0, 4000)));
      else resolve({ stdout, stderr });
    });
  });
}

/** `npm pack --json` and `npm publish --dry-run --json`: what each tarball holds. */
interface PackReport {
  name: string;
  version: string;
  filename: string;
  size: number;
  unpackedSize: number;
  integrity: string;
  files: { path: string; size: number }[];
}

/** The exact version this workspace installed of a package: the one `npm ci` put in the cache. */
async function installedVersion(name: string): Promise<string> {
  return (JSON.parse(await readFile(join(workspaceRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

async function ownSources(dir: string): Promise<Set<string>> {
  const files = await readdir(join(workspaceRoot, dir, 'src'), { recursive: true });
  return new Set(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => `src/${f}`));
}

/**
 * Synod as a service elsewhere uses it: every published package packed, the tarballs installed
 * with `npm install --prefer-offline` (the cache `npm ci` filled) into a temporary project outside
 * this workspace, a consumer program typechecked there under `moduleResolution: nodenext` and run
 * against a stack started from this workspace's built apps (nats-server, three replicas, one lock
 * manager) with a worker of its own on @synod/worker-sdk.
 */
describe('the published packages, installed outside the workspace', () => {
  const published: Published[] = readPublished(workspaceRoot);
  const names = published.map((p) => p.manifest.name);
  const workspaces = names.flatMap((n) => ['-w', n]);
  const timings: [string, number][] = [];
  let root: string;
  let app: string;
  let packed: PackReport[];
  let dryRun: Record<string, PackReport>;
  let nats: NatsFixture | undefined;
  let ns: string;
  const processes: AppProcess[] = [];

  async function timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      timings.push([step, performance.now() - started]);
    }
  }

  const suiteStarted = performance.now();

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'synod-consumer-'));
    app = join(root, 'app');
    const packs = join(root, 'packs');
    await mkdir(packs);
    packed = await timed('npm pack', async () => JSON.parse((await run('npm', ['pack', ...workspaces, '--pack-destination', packs, '--json'], { cwd: workspaceRoot })).stdout) as PackReport[]);

    // The consumer project: its own package.json and tsconfig, the workspace nowhere above it.
    await cp(join(import.meta.dirname, '..', 'consumer'), app, { recursive: true });
    const dependencies: Record<string, string> = {};
    for (const p of packed) dependencies[p.name] = `file:${relative(app, join(packs, p.filename))}`;
    for (const dep of ['@nats-io/transport-node', 'zod']) dependencies[dep] = await installedVersion(dep);
    const devDependencies = { '@types/node': await installedVersion('@types/node') };
    await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'synod-consumer', version: '1.0.0', private: true, type: 'module', dependencies, devDependencies }, null, 2)}\n`);
    // The stack starts and npm publish --dry-run runs meanwhile: much of each is waiting on disk and sockets.
    [, , dryRun] = await Promise.all([
      timed('npm install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app, timeoutMs: SLOW_STEP_MS })),
      timed('stack up', startStack),
      timed('npm publish --dry-run', async () => JSON.parse((await run('npm', ['publish', '--dry-run', '--json', ...workspaces], { cwd: workspaceRoot })).stdout) as Record<string, PackReport>),
    ]);
  }, SLOW_STEP_MS);

  /** nats-server, three replicas and a lock manager, from this workspace's built apps. */
  async function startStack(): Promise<void> {
    nats = await startNats();
    ns = uniqueNamespace('consumer');
    processes.push(...(await startReplicas({ natsUrl: nats.url, namespace: ns, ids: ['n1', 'n2', 'n3'], dataRoot: join(root, 'data') })));
    const lm = await AppProcess.start({ name: 'lock-manager', script: appScript('lock-manager'), env: { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, HTTP_PORT: '0', LOG_LEVEL: 'warn' } });
    processes.push(lm.app);
  }

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await nats?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    const wallS = (performance.now() - suiteStarted) / 1000;
    console.log(`consumer suite: ${wallS.toFixed(1)} s; steps (install, stack and dry run in parallel): ${timings.map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`).join(', ')}`);
  });

  it('npm publish --dry-run ships no test files and nothing of another package; the tarballs are what it would publish', async () => {
    expect(Object.keys(dryRun).sort()).toEqual([...names].sort());
    const sizes: string[] = [];
    for (const p of published) {
      const report = dryRun[p.manifest.name]!;
      const problems = packedProblems(p.manifest, report.files.map((f) => f.path), await ownSources(p.dir));
      expect(problems, p.manifest.name).toEqual([]);
      expect(report.integrity, `${p.manifest.name}: npm pack and npm publish --dry-run differ`).toBe(packed.find((t) => t.name === p.manifest.name)?.integrity);
      sizes.push(`${p.manifest.name} ${(report.size / 1024).toFixed(1)} kB packed, ${(report.unpackedSize / 1024).toFixed(1)} kB unpacked, ${report.files.length} files`);
    }
    console.log(`npm publish --dry-run:\n  ${sizes.join('\n  ')}`);
  });

  it("each installed package is a copy from its tarball, and its built files import exactly its dependencies", async () => {
    for (const p of published) {
      const dir = join(app, 'node_modules', ...p.manifest.name.split('/'));
      expect((await lstat(dir)).isSymbolicLink(), `${p.manifest.name} is a link`).toBe(false);
      expect(relative(workspaceRoot, await realpath(dir)).startsWith('..'), `${p.manifest.name} resolves into the workspace`).toBe(true);
      const out = join(dir, outDirOf(p.manifest)!);
      const built = (await readdir(out, { recursive: true })).filter((f) => /\.(js|d\.ts)$/.test(f));
      const imported = new Set<string>();
      for (const f of built) for (const dep of importedPackages(await readFile(join(out, f), 'utf8'))) imported.add(dep);
      const installed = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      expect([...imported].sort(), p.manifest.name).toEqual(Object.keys(installed.dependencies ?? {}).sort());
    }
  });

  it(
    'a consumer program typechecks against them under moduleResolution nodenext',
    async () => {
      // This workspace's compiler, on the consumer's own tsconfig and node_modules (types included).
      await timed('tsc', () => run(process.execPath, [join(workspaceRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(app, 'tsconfig.json')], { cwd: app, timeoutMs: SLOW_STEP_MS }));
      expect((await readdir(join(app, 'dist'))).filter((f) => f.endsWith('.js')).sort()).toEqual(['main.js', 'readme.js', 'worker.js']);
    },
    SLOW_STEP_MS,
  );

  it('runs against a stack: put/get, a watch event, a lock with fencing tokens, a worker answering on its endpoint subject', async () => {
    // The consumer's own worker, from its installed packages.
    const worker = await timed('worker up', () =>
      AppProcess.start({ name: 'greeter', script: join(app, 'dist', 'worker.js'), env: { NATS_URL: nats!.url, SYNOD_NAMESPACE: ns, WORKER_ID: 'greeter-1', LOG_LEVEL: 'warn' } }),
    );
    processes.push(worker.app);
    expect(worker.ready).toMatchObject({ id: 'greeter-1', serves: 'greeter', endpoints: ['hello'] });
    const out = await timed('consumer program', () =>
      run(process.execPath, [join(app, 'dist', 'main.js')], { cwd: app, env: outsideEnv({ NATS_URL: nats!.url, SYNOD_NAMESPACE: ns, WORKER_ID: 'greeter-1' }), timeoutMs: 30_000 }),
    );
    const seen = JSON.parse(out.stdout) as { revision: number; value: string; event: { type: string; key: string; value: string; revision: number }; tokens: number[]; reply: unknown; synodctlVersion: string };
    expect(seen.value).toBe('hello');
    expect(seen.event).toEqual({ type: 'put', key: 'consumer/greeting', value: 'hello', revision: seen.revision });
    expect(seen.tokens).toHaveLength(2);
    expect(seen.tokens[0]).toBeGreaterThan(0);
    expect(seen.tokens[1]).toBeGreaterThan(seen.tokens[0]!);
    expect(seen.reply).toEqual({ text: 'hello Ada from greeter-1' });
    expect(seen.synodctlVersion).toBe(published[0]!.manifest.version);
  });

  it('the README\'s consumer is this one, and runs as it says', async () => {
    const readme = await readFile(join(workspaceRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Use it from your service'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBe(await readFile(join(import.meta.dirname, '..', 'consumer', 'src', 'readme.ts'), 'utf8'));
    const out = await timed('README consumer', () => run(process.execPath, [join(app, 'dist', 'readme.js')], { cwd: app, env: outsideEnv({ NATS_URL: nats!.url, SYNOD_NAMESPACE: ns }), timeoutMs: 20_000 }));
    expect(out.stdout).toMatch(/^written under token \d+\n$/);
  });

  it(
    'npx synodctl works from the installed tarball',
    async () => {
      const help = await timed('npx synodctl', () => run('npx', ['--yes=false', 'synodctl', '--help'], { cwd: app }));
      for (const group of ['kv', 'lease', 'cluster', 'snapshot', 'lock', 'workers', 'completion']) expect(help.stdout).toMatch(new RegExp(`^  ${group}\\b`, 'm'));
      // The installed bin against the stack (directly: npx once is enough to show it is found).
      const get = await run(join(app, 'node_modules', '.bin', 'synodctl'), ['--nats', nats!.url, '--namespace', ns, 'kv', 'get', 'consumer/greeting', '--print-value-only'], { cwd: app });
      expect(get.stdout).toBe('hello\n');
    },
    SLOW_STEP_MS,
  );
});
