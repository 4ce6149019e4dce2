// `npm run version:packages -- <version>`: moves every published package (each workspace package
// that is not private) to one version together: their `version`, their dependencies on each other
// (pinned to exactly that version), synodctl's VERSION, then package-lock.json.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const version = process.argv[2] ?? '';
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
  process.stderr.write(`usage: npm run version:packages -- <version> (semver, e.g. 0.2.0); got ${JSON.stringify(version)}\n`);
  process.exit(2);
}

const manifests = ['apps', 'libs']
  .flatMap((group) => readdirSync(join(root, group)).map((dir) => join(root, group, dir, 'package.json')))
  .filter((file) => existsSync(file))
  .map((file) => ({ file, json: JSON.parse(readFileSync(file, 'utf8')) }))
  .filter((m) => m.json.private !== true);
const names = new Set(manifests.map((m) => m.json.name));
for (const m of manifests) {
  m.json.version = version;
  for (const dep of Object.keys(m.json.dependencies ?? {})) if (names.has(dep)) m.json.dependencies[dep] = version;
  writeFileSync(m.file, `${JSON.stringify(m.json, null, 2)}\n`);
  process.stdout.write(`${m.json.name} ${version}\n`);
}

const cli = join(root, 'apps', 'synodctl', 'src', 'cli.ts');
const source = readFileSync(cli, 'utf8');
const updated = source.replace(/export const VERSION = '[^']*';/, `export const VERSION = '${version}';`);
if (updated === source && !source.includes(`export const VERSION = '${version}';`)) {
  process.stderr.write(`${cli}: no VERSION constant found\n`);
  process.exit(1);
}
writeFileSync(cli, updated);

const npm = spawnSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: root, stdio: 'inherit' });
process.exit(npm.status ?? 1);
