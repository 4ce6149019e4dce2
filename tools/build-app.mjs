// Bundles an app into one file, apps/<app>/dist/main.js, that `node` runs with no node_modules
// beside it (so container images copy a single file). Run as a script (`node tools/build-app.mjs
// <appDir>`) or imported by an app's own build that adds esbuild plugins (apps/console/build.mjs).
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';

/** Builds `<appDir>/src/main.ts` into `<appDir>/dist/main.js`; `plugins`: esbuild plugins an app adds (its own assets). */
export async function buildApp(appDir, { plugins = [] } = {}) {
  await rm(resolve(appDir, 'dist'), { recursive: true, force: true });
  await build({
    entryPoints: [resolve(appDir, 'src/main.ts')],
    outfile: resolve(appDir, 'dist/main.js'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    // Workspace packages from their TypeScript sources (their published exports point at built files).
    conditions: ['@synod/source'],
    sourcemap: 'linked',
    // Smaller bundles are less memory in every process (V8 keeps the source text); names are kept so
    // logged errors and stacks stay readable, and the linked source map maps positions back.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins,
    // CommonJS dependencies inside an ES module bundle still expect these.
    banner: {
      js: [
        "import { createRequire as __synodCreateRequire } from 'node:module';",
        "import { fileURLToPath as __synodFileURLToPath } from 'node:url';",
        "import { dirname as __synodDirname } from 'node:path';",
        'const require = __synodCreateRequire(import.meta.url);',
        'const __filename = __synodFileURLToPath(import.meta.url);',
        'const __dirname = __synodDirname(__filename);',
      ].join('\n'),
    },
  });
}

if (import.meta.main) await buildApp(resolve(process.argv[2] ?? process.cwd()));
