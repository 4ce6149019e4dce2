import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, workspaceRoot } from '@synod/testkit';

/** Not copied: installed packages (linked instead), build output, caches, data, history. */
const SKIP = new Set(['node_modules', 'dist', '.nx', '.git', 'tmp', '.synod-data', 'coverage']);

/**
 * A copy of the workspace's sources in a temporary folder. node_modules is a folder of links to
 * the real one's packages, except @synod/*, which link to the copy's own projects: so the copy's
 * plugin, libs and apps are the ones that run, and testkit finds the copy as its workspace root.
 */
function copyWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'synod-plugin-'));
  cpSync(workspaceRoot, dir, {
    recursive: true,
    filter: (src) => relative(workspaceRoot, src).split(sep).every((part) => !SKIP.has(part)),
  });
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@synod'), { recursive: true });
  for (const entry of readdirSync(join(workspaceRoot, 'node_modules'))) {
    if (entry !== '@synod') symlinkSync(join(workspaceRoot, 'node_modules', entry), join(modules, entry));
  }
  for (const group of ['apps', 'libs']) {
    for (const project of readdirSync(join(dir, group))) {
      if (existsSync(join(dir, group, project, 'package.json'))) symlinkSync(join('..', '..', group, project), join(modules, '@synod', project));
    }
  }
  return dir;
}

function run(cwd: string, args: string[], timeoutMs: number) {
  const r = spawnSync(process.execPath, [join(cwd, 'node_modules', 'nx', 'dist', 'bin', 'nx.js'), ...args], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', NX_TUI: 'false', FORCE_COLOR: '0' },
  });
  return { code: r.status, output: `${r.stdout}\n${r.stderr}` };
}

const dockerCompose = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
const CI = process.env.CI === 'true' || process.env.CI === '1';

/** The base images the compose file will use here (the environment, then .env), when they are on this host. */
function localBaseImages(root: string): Record<string, string> | undefined {
  const fromFile = Object.fromEntries(
    (existsSync(join(root, '.env')) ? readFileSync(join(root, '.env'), 'utf8') : '')
      .split('\n')
      .map((l) => /^([A-Z_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
  const images = { NODE_IMAGE: process.env.NODE_IMAGE || fromFile.NODE_IMAGE || 'node:24-alpine', NATS_IMAGE: process.env.NATS_IMAGE || fromFile.NATS_IMAGE || 'nats:2.10' };
  const present = Object.values(images).every((i) => spawnSync('docker', ['image', 'inspect', i], { timeout: 10_000 }).status === 0);
  return present ? images : undefined;
}

/** `nx g @synod/plugin:worker` in a temporary copy of this workspace, then the new app's own checks. */
describe('the worker generator in a copy of the workspace', () => {
  let dir: string;

  beforeAll(() => {
    dir = copyWorkspace();
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('generates a worker app that typechecks, lints, and passes its unit and process tests with no edits', { timeout: 300_000 }, () => {
    const gen = run(dir, ['g', '@synod/plugin:worker', 'demo-worker', '--skipInstall', '--no-interactive'], 60_000);
    expect(gen.code, gen.output).toBe(0);
    expect(gen.output).toContain('CREATE apps/demo-worker/src/main.ts');

    const start = JSON.parse(readFileSync(join(dir, 'tools', 'start-workers.json'), 'utf8')) as { workers: { name: string }[] };
    expect(start.workers.map((w) => w.name)).toContain('demo-worker');
    const composeFile = join(dir, 'docker-compose.yml');
    const compose = existsSync(composeFile) ? readFileSync(composeFile, 'utf8') : '';
    if (compose.includes('# synod:workers')) {
      expect(compose).toContain('  demo-worker:\n');
      if (dockerCompose) {
        const services = spawnSync('docker', ['compose', 'config', '--services'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
        expect(services.status, services.stderr).toBe(0);
        expect(services.stdout.split('\n')).toContain('demo-worker');
      }
    }

    const checks = run(dir, ['run-many', '-t', 'typecheck', 'lint', 'test', 'test-process', '-p', '@synod/demo-worker', '--parallel=1', '--outputStyle=static'], 240_000);
    expect(checks.code, checks.output).toBe(0);
    expect(checks.output).toMatch(/Successfully ran targets typecheck, lint, test, test-process for project @synod\/demo-worker/);
    expect(existsSync(join(dir, 'apps', 'demo-worker', 'dist', 'main.js'))).toBe(true);
    const report = JSON.parse(readFileSync(join(dir, 'tmp', 'test-results', 'demo-worker-process.json'), 'utf8')) as { numPassedTests: number; numFailedTests: number };
    expect(report).toMatchObject({ numFailedTests: 0 });
    expect(report.numPassedTests).toBeGreaterThanOrEqual(3);
  });

  it("comes up on the compose stack's TLS bus with its own certificate identity", { timeout: 240_000 }, async () => {
    const images = dockerCompose ? localBaseImages(dir) : undefined;
    if (!images) {
      if (CI) throw new Error('needs Docker Compose v2 and the base images (npm run images:offline)');
      console.warn('plugin: the generated worker on the compose stack is skipped: no Docker Compose v2 or base images here');
      return;
    }
    // The one-shot that issues its certificate: this workspace's bundle (built before this suite),
    // copied like the other build output the copy leaves out; the worker's own bundle was built there.
    cpSync(join(workspaceRoot, 'apps', 'certs', 'dist'), join(dir, 'apps', 'certs', 'dist'), { recursive: true });
    const project = `synod-gen-${process.pid}`;
    const tag = `gen-${process.pid}`;
    const ports = Object.fromEntries(
      await Promise.all(['NATS_PORT', 'NATS_PORT_2', 'NATS_PORT_3', 'NATS_MONITOR_PORT', 'NATS_MONITOR_PORT_2', 'NATS_MONITOR_PORT_3'].map(async (k) => [k, String(await freePort())])),
    );
    const env = { ...process.env, ...images, ...ports, SYNOD_TAG: tag, SYNOD_DOCKERFILE: 'infra/docker/Dockerfile', SYNOD_RESTART: 'no', SYNOD_NAMESPACE: 'gen.synod' };
    const compose = (args: string[], timeoutMs = 180_000) => spawnSync('docker', ['compose', '-p', project, ...args], { cwd: dir, env, encoding: 'utf8', timeout: timeoutMs });
    try {
      // The certs service, the NATS nodes and the new worker (its dependencies), nothing else.
      const up = compose(['up', '-d', '--build', 'demo-worker']);
      expect(up.status, up.stderr).toBe(0);
      const deadline = Date.now() + 90_000;
      let health = '';
      while (health !== 'healthy' && Date.now() < deadline) {
        health = spawnSync('docker', ['inspect', '--format', '{{.State.Health.Status}}', `${project}-demo-worker-1`], { encoding: 'utf8' }).stdout.trim();
        if (health !== 'healthy') await new Promise((r) => setTimeout(r, 500));
      }
      expect(health, compose(['logs', 'certs', 'demo-worker']).stdout).toBe('healthy');
      // The server's view: the worker is connected over TLS as the user named by its certificate,
      // which the certs service issued because the generator added it to auth.conf.
      const monitors = [ports.NATS_MONITOR_PORT, ports.NATS_MONITOR_PORT_2, ports.NATS_MONITOR_PORT_3];
      const seen = (
        await Promise.all(
          monitors.map(async (p) => ((await (await fetch(`http://127.0.0.1:${p}/connz?auth=true`)).json()) as { connections?: { name?: string; tls_version?: string; authorized_user?: string }[] }).connections ?? []),
        )
      )
        .flat()
        .filter((c) => c.name?.startsWith('demo-worker/'));
      expect(seen.map((c) => ({ user: c.authorized_user, tls: /^1\.[23]$/.test(c.tls_version ?? '') }))).toEqual([{ user: 'CN=demo-worker,O=Synod', tls: true }]);
    } finally {
      compose(['down', '-v', '--timeout', '0'], 60_000);
      spawnSync('docker', ['rmi', `synod/demo-worker:${tag}`, `synod/certs:${tag}`], { encoding: 'utf8' });
    }
  });
});
