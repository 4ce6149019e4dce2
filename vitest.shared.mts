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
 * Two kinds of suites:
 * - unit (`*.test.ts` beside the code or under test/): pure, fast, run in parallel;
 * - process (`test/**\/*.process.test.ts`): real nats-server and real app processes, run one file at
 *   a time so that timing on a 2-core machine stays sane.
 */
export function unitConfig(root: string) {
  return defineConfig({
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
