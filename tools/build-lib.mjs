// Builds a publishable package: `tsc -p <dir>/tsconfig.build.json` (ES modules, declarations and
// maps, see tsconfig.package.json) into that config's outDir, emptied first so that a removed
// source leaves no stale file to be packed.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? process.cwd());
const config = join(dir, 'tsconfig.build.json');
const outDir = JSON.parse(readFileSync(config, 'utf8')).compilerOptions?.outDir;
if (typeof outDir !== 'string' || outDir === '' || outDir === '.') {
  process.stderr.write(`${config}: compilerOptions.outDir must name the output folder\n`);
  process.exit(2);
}
rmSync(resolve(dir, outDir), { recursive: true, force: true });
const tsc = join(import.meta.dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
process.exit(r.status ?? 1);
