/** The browser app, built and inlined by build.mjs. */
declare module 'console:assets' {
  import type { ConsoleAssets } from './app.js';

  const assets: ConsoleAssets;
  export default assets;
}
