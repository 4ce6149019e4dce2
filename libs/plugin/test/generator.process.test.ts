import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceRoot } from '@synod/testkit';

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
});
