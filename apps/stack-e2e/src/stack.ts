import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * What the container suite and the compose file share: where the files are, which images the
 * compose file will use (the same variables, read the same way: the environment first, then .env,
 * then the compose file's defaults), and whether a Docker engine with Compose v2 is here.
 */

/** The images docker-compose.yml uses when nothing overrides them (a host with a registry). */
export const ONLINE_DEFAULTS = {
  NODE_IMAGE: 'node:24-alpine',
  NATS_IMAGE: 'nats:2.10',
} as const;

/** The services of docker-compose.yml that the stack starts (the CLI is under a profile; certs runs once and exits). */
export const STACK_SERVICES = [
  'certs',
  'nats-1',
  'nats-2',
  'nats-3',
  'consensus-1',
  'consensus-2',
  'consensus-3',
  'lock-manager-1',
  'lock-manager-2',
  'balancer-gateway',
  'sample-worker-a',
  'sample-worker-b',
  'sample-worker',
  'console',
] as const;

/**
 * The NATS identities of infra/nats/auth.conf: each service's certificate subject (its NATS user,
 * mapped by `verify_and_map`) by the short name its NATS_USER, inbox prefix and certificate folder
 * carry.
 */
export const IDENTITIES = {
  consensus: 'CN=consensus,O=Synod',
  'lock-manager': 'CN=lock-manager,O=Synod',
  gateway: 'CN=gateway,O=Synod',
  synodctl: 'CN=synodctl,O=Synod',
  sample: 'CN=sample,O=Synod',
  console: 'CN=console,O=Synod',
} as const;
export type IdentityName = keyof typeof IDENTITIES;

export function findRepoRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'nx.json'))) {
    const up = join(dir, '..');
    if (up === dir) throw new Error(`no nx.json above ${from}`);
    dir = up;
  }
  return dir;
}

export const repoRoot = findRepoRoot(import.meta.dirname);

/**
 * Parses a compose-style .env: `KEY=value` lines, `#` comments, optional single or double quotes.
 * Later lines win, as in compose.
 */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2] ?? '';
    else value = value.replace(/\s+#.*$/, '');
    out[m[1]!] = value;
  }
  return out;
}

export function readDotEnv(root = repoRoot): Record<string, string> {
  const path = join(root, '.env');
  return existsSync(path) ? parseDotEnv(readFileSync(path, 'utf8')) : {};
}

/** The value compose will use for a variable: the environment, then .env, then the default. */
export function composeVariable(name: string, fallback: string, env: Record<string, string | undefined>, dotEnv: Record<string, string>): string {
  const fromEnv = env[name];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const fromFile = dotEnv[name];
  if (fromFile !== undefined && fromFile !== '') return fromFile;
  return fallback;
}

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR-default}` interpolation, over a given environment. */
export function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_m, name: string, op: string | undefined, def: string | undefined) => {
    const v = env[name];
    if (op === ':-') return v !== undefined && v !== '' ? v : (def ?? '');
    if (op === '-') return v ?? def ?? '';
    return v ?? '';
  });
}

/**
 * The environment docker-compose.yml gives every NATS node (`x-nats-environment`: the subjects
 * auth.conf permits, for `vars.SYNOD_NAMESPACE`), so a test runs infra/nats/nats.conf as compose does.
 */
export function natsNodeEnvironment(vars: Record<string, string>, root = repoRoot): Record<string, string> {
  const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
  return (parseYaml(interpolate(text, vars), { merge: true }) as { 'x-nats-environment': Record<string, string> })['x-nats-environment'];
}

export function stackImages(env: Record<string, string | undefined> = process.env, dotEnv = readDotEnv()): { NODE_IMAGE: string; NATS_IMAGE: string } {
  return {
    NODE_IMAGE: composeVariable('NODE_IMAGE', ONLINE_DEFAULTS.NODE_IMAGE, env, dotEnv),
    NATS_IMAGE: composeVariable('NATS_IMAGE', ONLINE_DEFAULTS.NATS_IMAGE, env, dotEnv),
  };
}

function docker(args: string[], timeoutMs = 10_000): { ok: boolean; out: string; err: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() || (r.error?.message ?? '') };
}

export type Readiness = { ok: true } | { ok: false; reason: string };

/**
 * Whether the suite can run here: an engine that answers, Compose v2, and the base images present
 * (the suite never pulls: on a host with a registry, `docker pull` them or let `docker compose build`
 * do it once; without one, `npm run images:offline` builds them).
 */
export function stackReadiness(images = stackImages()): Readiness {
  const info = docker(['info', '--format', '{{.ServerVersion}}']);
  if (!info.ok || info.out === '') {
    return {
      ok: false,
      reason:
        'no Docker engine answers. To run the container suite: start Docker (as root on Debian, `tools/docker-setup.sh` installs ' +
        'docker.io and Compose v2 and starts dockerd), run `npm run images:offline` if this host has no registry, then `npm run test:containers`',
    };
  }
  if (!docker(['compose', 'version']).ok) {
    return { ok: false, reason: 'Docker Compose v2 (`docker compose`) is missing: `tools/docker-setup.sh` installs it' };
  }
  const missing = [images.NODE_IMAGE, images.NATS_IMAGE].filter((image) => !docker(['image', 'inspect', image]).ok);
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `base image(s) ${missing.join(', ')} not on this host and not pulled by the suite: run \`npm run images:offline\` first (no registry), or \`docker pull\` them`,
    };
  }
  return { ok: true };
}

export interface ProjectResources {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/** Every container (running or not), network and volume labelled with a compose project. */
export function projectResources(project: string): ProjectResources {
  const label = `label=com.docker.compose.project=${project}`;
  const list = (args: string[]) => {
    const r = docker(args);
    if (!r.ok) throw new Error(`docker ${args.join(' ')} failed: ${r.err}`);
    return r.out.split('\n').filter((s) => s !== '');
  };
  return {
    containers: list(['ps', '-a', '--filter', label, '--format', '{{.Names}}']),
    networks: list(['network', 'ls', '--filter', label, '--format', '{{.Name}}']),
    volumes: list(['volume', 'ls', '--filter', label, '--format', '{{.Name}}']),
  };
}

/**
 * Compose projects named `<prefix><pid>-...` whose process is gone: what a suite killed before its
 * clean-up (SIGKILL, a lost machine) left behind. The next run removes them.
 */
export function orphanedProjects(prefix: string, isAlive: (pid: number) => boolean = pidAlive): string[] {
  const r = docker(['ps', '-a', '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}']);
  if (!r.ok) return [];
  const projects = new Set(r.out.split('\n').filter((p) => p.startsWith(prefix)));
  return [...projects].filter((p) => {
    const pid = Number(/^(\d+)-/.exec(p.slice(prefix.length))?.[1]);
    return Number.isInteger(pid) && pid > 0 && !isAlive(pid);
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
