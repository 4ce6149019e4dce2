import { basename, join } from 'node:path';
import { defineConfig } from 'vitest/config';

const workspaceRoot = import.meta.dirname;

/** Each run also writes a JSON report that tools/test.mjs adds up into one closing line. */
function reporting(root: string, kind: string) {
  return {
    reporters: ['default', 'json'],
    outputFile: { json: join(workspaceRoot, 'tmp', 'test-results', `${basename(root)}-${kind}.json`) },
  };
}

/**
 * Workspace packages resolve to their TypeScript sources (the `@synod/source` export condition) in
 * tests, as in typecheck and the app bundles; their published `exports` point at built files.
 * Vite replaces its default (server) conditions when given some, so they are listed with it.
 */
const resolveSources = { ssr: { resolve: { conditions: ['@synod/source', 'module', 'node', 'development|production'] } } };

/**
 * Two kinds of suites:
 * - unit (`*.test.ts` beside the code or under test/): pure, fast, run in parallel;
 * - process (`test/**\/*.process.test.ts`): real nats-server and real app processes, run one file at
 *   a time so that timing on a 2-core machine stays sane.
 */
export function unitConfig(root: string) {
  return defineConfig({
    ...resolveSources,
    test: {
      name: 'unit',
      root,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      exclude: ['**/*.process.test.ts', '**/node_modules/**', '**/dist/**'],
      testTimeout: 20_000,
      ...reporting(root, 'unit'),
    },
  });
}

export function processConfig(root: string) {
  return defineConfig({
    ...resolveSources,
    test: {
      name: 'process',
      root,
      include: ['test/**/*.process.test.ts'],
      fileParallelism: false,
      maxWorkers: 1,
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...reporting(root, 'process'),
    },
  });
}
