// The console's build: the browser app (web/main.ts with Preact, htm and uPlot, and its CSS) is
// bundled first, in memory, and inlined into the server bundle as the module `console:assets`, so
// dist/main.js serves everything itself: no CDN, no files beside it, works offline.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { buildApp } from '../../tools/build-app.mjs';

const here = import.meta.dirname;
const require = createRequire(import.meta.url);

async function browserApp() {
  const js = await build({
    entryPoints: [resolve(here, 'web/main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const css = [await readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'), await readFile(resolve(here, 'web/style.css'), 'utf8')].join('\n');
  const html = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Synod console</title><link rel="stylesheet" href="/assets/app.css"></head>',
    '<body><div id="app"></div><script type="module" src="/assets/app.js"></script></body></html>',
  ].join('\n');
  return { html, js: js.outputFiles[0].text, css };
}

const assets = await browserApp();
await buildApp(here, {
  plugins: [
    {
      name: 'console-assets',
      setup(b) {
        b.onResolve({ filter: /^console:assets$/ }, () => ({ path: 'console:assets', namespace: 'console-assets' }));
        b.onLoad({ filter: /.*/, namespace: 'console-assets' }, () => ({ contents: `export default ${JSON.stringify(assets)};`, loader: 'js' }));
      },
    },
  ],
});
