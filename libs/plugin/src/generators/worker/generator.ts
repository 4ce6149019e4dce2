import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateFiles, logger, names, updateJson, type GeneratorCallback, type Tree } from '@nx/devkit';

export interface WorkerGeneratorSchema {
  /** Folder under apps/ and package name @synod/<name>. */
  name: string;
  /** Service name the gateway routes (`/v1/services/<service>/...`); default: the name. */
  service?: string;
  /** Skip the `npm install` that links the new package and records it in package-lock.json. */
  skipInstall?: boolean;
}

/** What the generator works from, checked and derived once. */
export interface NormalizedOptions {
  name: string;
  service: string;
  /** The service in env variable names: `pricing-v2` → `PRICING_V2`. */
  envSuffix: string;
  /** `pricing-v2` → `pricingV2` (identifiers in the templates). */
  propertyName: string;
  className: string;
}

/** The list `npm start` (tools/start.ts) reads beside its own processes. */
export const START_WORKERS_FILE = 'tools/start-workers.json';
/** Markers that say where generated blocks go; a file without its marker is left alone. */
export const MARKERS = {
  composeServices: '# synod:workers',
  composeNatsEnvironment: '# synod:nats-environment',
  natsUsers: '# synod:worker-users',
} as const;
const COMPOSE_FILE = 'docker-compose.yml';
const NATS_AUTH_FILE = 'infra/nats/auth.conf';
/** The compose anchors a generated service entry uses. */
const COMPOSE_ANCHORS = ['&app', '&app-environment', '&after-nats'];

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const SERVICE = /^[A-Za-z0-9_-]{1,64}$/;

export function normalizeOptions(options: WorkerGeneratorSchema): NormalizedOptions {
  const name = options.name.trim();
  if (!NAME.test(name)) {
    throw new Error(`worker name ${JSON.stringify(name)}: expected lower-case letters, digits and dashes, starting with a letter (at most 63)`);
  }
  const service = (options.service ?? name).trim();
  if (!SERVICE.test(service)) throw new Error(`service ${JSON.stringify(service)}: expected 1-64 letters, digits, _ or -`);
  const n = names(name);
  return { name, service, envSuffix: service.toUpperCase().replace(/-/g, '_'), propertyName: n.propertyName, className: n.className };
}

/**
 * `nx g @synod/plugin:worker <name>`: a new worker app in apps/<name> on @synod/worker-sdk, with
 * one example endpoint, a unit test and a process test that runs it behind the gateway; adds it to
 * `npm start` (tools/start-workers.json) and, where their markers are, to docker-compose.yml (a
 * service with its certificate, and the subjects of its service) and infra/nats/auth.conf (the
 * NATS user of its service: its certificate's subject).
 */
export default async function workerGenerator(tree: Tree, options: WorkerGeneratorSchema): Promise<GeneratorCallback | undefined> {
  const o = normalizeOptions(options);
  const root = `apps/${o.name}`;
  if (tree.exists(root)) throw new Error(`${root} exists already`);
  if (projectNameTaken(tree, `@synod/${o.name}`)) throw new Error(`a project named @synod/${o.name} exists already`);

  generateFiles(tree, join(here(), 'files'), root, { ...o, tmpl: '' });
  addToStart(tree, o);
  for (const note of addToCompose(tree, o)) logger.info(note);
  for (const note of addNatsUser(tree, o)) logger.info(note);

  if (options.skipInstall) return undefined;
  // Links @synod/<name> into node_modules and records the new workspace in package-lock.json (a
  // fresh `npm ci` refuses a lock file that lacks a workspace).
  return () => {
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: tree.root, stdio: 'inherit' });
  };
}

function here(): string {
  // tsx (entry.cjs) runs this file as CommonJS; vitest runs it as an ES module.
  return typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
}

function projectNameTaken(tree: Tree, packageName: string): boolean {
  for (const group of ['apps', 'libs']) {
    if (!tree.exists(group)) continue;
    for (const dir of tree.children(group)) {
      const pkg = `${group}/${dir}/package.json`;
      if (tree.exists(pkg) && (JSON.parse(tree.read(pkg, 'utf-8') ?? '{}') as { name?: string }).name === packageName) return true;
    }
  }
  return false;
}

interface StartWorkers {
  $comment?: string;
  workers: { name: string; app: string; env: Record<string, string> }[];
}

export function addToStart(tree: Tree, o: NormalizedOptions): void {
  if (!tree.exists(START_WORKERS_FILE)) {
    tree.write(
      START_WORKERS_FILE,
      `${JSON.stringify({ $comment: 'Worker apps `npm start` runs beside the sample workers (nx g @synod/plugin:worker adds to it).', workers: [] }, null, 2)}\n`,
    );
  }
  updateJson<StartWorkers>(tree, START_WORKERS_FILE, (json) => {
    json.workers = json.workers.filter((w) => w.name !== o.name);
    json.workers.push({ name: o.name, app: o.name, env: { WORKER_ID: `${o.name}-1` } });
    return json;
  });
}

/**
 * Inserts `block` (lines without indentation) just above the line holding `marker`, indented as the
 * marker is. Returns undefined when the marker is absent.
 */
export function insertAboveMarker(text: string, marker: string, block: readonly string[]): string | undefined {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trim() === marker);
  if (at < 0) return undefined;
  const indent = /^\s*/.exec(lines[at]!)![0];
  lines.splice(at, 0, ...block.map((l) => (l === '' ? '' : indent + l)));
  return lines.join('\n');
}

function composeService(o: NormalizedOptions): string[] {
  return [
    `${o.name}:`,
    '  <<: *app',
    `  image: synod/${o.name}:\${SYNOD_TAG:-latest}`,
    '  build:',
    '    context: .',
    '    dockerfile: ${SYNOD_DOCKERFILE:-infra/docker/Dockerfile.build}',
    `    args: { APP: ${o.name}, NODE_IMAGE: "\${NODE_IMAGE:-node:24-alpine}" }`,
    '  environment:',
    '    <<: *app-environment',
    `    NATS_USER: ${o.service}`,
    // The service's identity: the certificate the certs service issues for its auth.conf user.
    `    NATS_TLS_CERT: /certs/${o.service}/cert.pem`,
    `    NATS_TLS_KEY: /certs/${o.service}/key.pem`,
    `    WORKER_SERVICE: ${o.service}`,
    '  depends_on: *after-nats',
  ];
}

/**
 * A service's NATS user is the subject of its client certificate (`verify_and_map` in
 * infra/nats/nats.conf): the certs service issues a certificate for each such user, into
 * <service>/ of the certificates' volume.
 */
function certificateSubject(service: string): string {
  return `CN=${service},O=Synod`;
}

function serviceHasNatsUser(tree: Tree, o: NormalizedOptions): boolean {
  const auth = tree.exists(NATS_AUTH_FILE) ? (tree.read(NATS_AUTH_FILE, 'utf-8') ?? '') : '';
  return auth.split('\n').some((l) => l.trim() === `user: "${certificateSubject(o.service)}"`);
}

/** docker-compose.yml: the service above `# synod:workers`, its NATS variables above `# synod:nats-environment`. */
export function addToCompose(tree: Tree, o: NormalizedOptions): string[] {
  if (!tree.exists(COMPOSE_FILE)) return [`${COMPOSE_FILE} not found: no compose service added`];
  let text = tree.read(COMPOSE_FILE, 'utf-8') ?? '';
  if (!text.split('\n').some((l) => l.trim() === MARKERS.composeServices)) {
    return [`${COMPOSE_FILE} has no "${MARKERS.composeServices}" line: no compose service added`];
  }
  const missing = COMPOSE_ANCHORS.filter((a) => !text.includes(`${a}\n`) && !text.includes(`${a} `));
  if (missing.length > 0) return [`${COMPOSE_FILE} lacks the anchors ${missing.join(', ')}: no compose service added`];
  if (new RegExp(`^\\s{2}${o.name}:\\s*$`, 'm').test(text)) return [`${COMPOSE_FILE} has a service ${o.name} already`];
  text = insertAboveMarker(text, MARKERS.composeServices, composeService(o))!;
  const notes = [`${COMPOSE_FILE}: service ${o.name} added`];
  if (!serviceHasNatsUser(tree, o)) {
    const vars = [`SYNOD_SUBJECTS_SVC_${o.envSuffix}: \${SYNOD_NAMESPACE:-synod}.svc.${o.service}.>`];
    const withVars = insertAboveMarker(text, MARKERS.composeNatsEnvironment, vars);
    if (withVars === undefined) notes.push(`${COMPOSE_FILE} has no "${MARKERS.composeNatsEnvironment}" line: set SYNOD_SUBJECTS_SVC_${o.envSuffix} for the NATS servers yourself`);
    else text = withVars;
  }
  tree.write(COMPOSE_FILE, text);
  return notes;
}

/**
 * infra/nats/auth.conf: the NATS user of the service above `# synod:worker-users` (once per
 * service), named by its certificate's subject, so the certs service issues its certificate on the
 * next `docker compose up`.
 */
export function addNatsUser(tree: Tree, o: NormalizedOptions): string[] {
  if (!tree.exists(NATS_AUTH_FILE)) return [];
  if (serviceHasNatsUser(tree, o)) return [`${NATS_AUTH_FILE} has a user ${o.service} already`];
  const text = tree.read(NATS_AUTH_FILE, 'utf-8') ?? '';
  const block = [
    '{',
    `  user: "${certificateSubject(o.service)}"`,
    '  permissions: {',
    `    publish: { allow: [$SYNOD_SUBJECTS_SVC_${o.envSuffix}, $SYNOD_SUBJECTS_REGISTRY, "_INBOX.>"] }`,
    `    subscribe: { allow: [$SYNOD_SUBJECTS_SVC_${o.envSuffix}, $SYNOD_SUBJECTS_DISCOVER, "_INBOX.${o.service}.>"] }`,
    '  }',
    '}',
  ];
  const updated = insertAboveMarker(text, MARKERS.natsUsers, block);
  if (updated === undefined) return [`${NATS_AUTH_FILE} has no "${MARKERS.natsUsers}" line: no NATS user added for ${o.service}`];
  tree.write(NATS_AUTH_FILE, updated);
  return [`${NATS_AUTH_FILE}: NATS user ${o.service} added`];
}
