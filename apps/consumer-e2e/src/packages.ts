import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

/** The packages Synod publishes, in dependency order, by folder in this workspace. */
export const PUBLISHED_DIRS = ['libs/protocol', 'libs/service-kit', 'libs/store-client', 'libs/locks', 'libs/worker-sdk', 'apps/synodctl'] as const;

/** The Node lines the consumer test runs on, which `engines` must name. */
export const NODE_ENGINES = '^24';

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  type?: string;
  engines?: Record<string, string>;
  exports?: Record<string, unknown>;
  bin?: Record<string, string>;
  files?: string[];
  publishConfig?: Record<string, string>;
  dependencies?: Record<string, string>;
}

export interface Published {
  dir: string;
  manifest: Manifest;
}

export function readPublished(workspaceRoot: string): Published[] {
  return PUBLISHED_DIRS.map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(workspaceRoot, dir, 'package.json'), 'utf8')) as Manifest }));
}

/** The folder of built files a manifest's `files` ships besides `src` (dist for the libraries, lib for synodctl). */
export function outDirOf(m: Manifest): string | undefined {
  return m.files?.find((f) => f !== 'src' && !f.startsWith('!'));
}

/**
 * What is wrong with one manifest for publishing, as readable lines (empty: nothing). `all` are
 * every published manifest: versions move together, and a package depends on the others at
 * exactly that version.
 */
export function manifestProblems(m: Manifest, all: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const version = all[0]?.version;
  const names = new Set(all.map((p) => p.name));
  if (m.private) problems.push('is private');
  if (m.version !== version) problems.push(`version ${m.version}, the others ${version}`);
  if (m.type !== 'module') problems.push('is not "type": "module"');
  if (!m.license) problems.push('has no license');
  if (m.engines?.node !== NODE_ENGINES) problems.push(`engines.node is ${JSON.stringify(m.engines?.node)}, not ${JSON.stringify(NODE_ENGINES)}`);
  if (m.publishConfig?.access !== 'public') problems.push('publishConfig.access is not public (a scoped package would publish restricted)');
  const out = outDirOf(m);
  if (!out) problems.push('files names no folder of built files');
  if (!m.files?.includes('src') || !m.files.some((f) => f.startsWith('!') && f.includes('.test.'))) problems.push('files must ship src without its tests');
  const root = m.exports?.['.'];
  if (typeof root !== 'object' || root === null) problems.push('exports has no "." entry with conditions');
  else {
    const conditions = root as Record<string, unknown>;
    const keys = Object.keys(conditions);
    if (conditions['@synod/source'] !== './src/index.ts') problems.push('exports["."]["@synod/source"] is not ./src/index.ts');
    if (conditions.types !== `./${out}/index.d.ts`) problems.push(`exports["."].types is not ./${out}/index.d.ts`);
    if (conditions.default !== `./${out}/index.js`) problems.push(`exports["."].default is not ./${out}/index.js`);
    if (keys.indexOf('types') > keys.indexOf('default')) problems.push('exports["."].types must come before default');
  }
  for (const [bin, target] of Object.entries(m.bin ?? {})) {
    if (!out || !target.replace(/^\.\//, '').startsWith(`${out}/`)) problems.push(`bin ${bin} (${target}) is not a built file`);
  }
  for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
    if (dep.startsWith('@synod/') && !names.has(dep)) problems.push(`depends on ${dep}, which is not published`);
    if (names.has(dep) && range !== version) problems.push(`depends on ${dep}@${range}, not exactly ${version}`);
  }
  return problems;
}

const IMPORT_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
const BUILTINS = new Set(builtinModules);

/** The packages a built file imports (JavaScript or declarations): bare specifiers, no Node built-ins. */
export function importedPackages(code: string): Set<string> {
  const found = new Set<string>();
  for (const match of code.matchAll(IMPORT_SPECIFIER)) {
    const spec = match[1]!;
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!)) continue;
    const parts = spec.split('/');
    found.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return found;
}

/**
 * What is wrong with a packed file list (as `npm pack` or `npm publish --dry-run` report it):
 * test files, files outside the package's own built folder, its sources and the files npm adds
 * (package.json, README, LICENSE), or a built file with no source of this package behind it (a
 * bundled copy of another package would be one).
 */
export function packedProblems(m: Manifest, files: readonly string[], ownSources: ReadonlySet<string>): string[] {
  const out = outDirOf(m);
  const problems: string[] = [];
  for (const f of files) {
    if (/(^|\/)test\/|\.test\.[cm]?[jt]s(\.map)?$|\.test\.d\.ts(\.map)?$/.test(f)) problems.push(`ships a test file: ${f}`);
    else if (f === 'package.json' || /^(README|LICENSE)(\.md)?$/i.test(f)) continue;
    else if (f.startsWith('src/')) {
      if (!ownSources.has(f)) problems.push(`ships a source that is not its own: ${f}`);
    } else if (out && f.startsWith(`${out}/`)) {
      const source = `src/${f.slice(out.length + 1).replace(/\.(d\.ts|js)(\.map)?$/, '.ts')}`;
      if (!ownSources.has(source)) problems.push(`ships a built file with no source of its own: ${f}`);
    } else problems.push(`ships a file outside ${out ?? '(no build folder)'} and src: ${f}`);
  }
  if (!files.includes('README.md')) problems.push('has no README.md');
  for (const need of [`${out}/index.js`, `${out}/index.d.ts`]) if (!files.includes(need)) problems.push(`does not ship ${need}`);
  return problems;
}
