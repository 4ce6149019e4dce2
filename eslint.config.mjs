import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * The layers, by the tags in each project's package.json (`nx.tags`):
 * - type: apps depend on libs, never the reverse, and apps never import apps; tools (tests/*)
 *   may use both;
 * - scope: the pure core (scope:core — protocol, replog, raft, paxos, kv-state, balancing) depends
 *   only on the core; the runtime libs (scope:runtime) wire it to I/O and depend on the core and
 *   each other; apps (scope:app) on both; the test kits (scope:testkit: testkit, cluster-kit) and
 *   tooling (scope:tooling) serve tests and developers, and no production code depends on them.
 * The scope rules hold for production code (an app's or a lib's src/); tests may use the test kits
 * (tests/workspace proves the rules refuse what they should).
 */
const layers = [
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
  { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib', 'type:app'] },
];
const production = [
  ...layers,
  { sourceTag: 'scope:core', onlyDependOnLibsWithTags: ['scope:core'] },
  { sourceTag: 'scope:runtime', onlyDependOnLibsWithTags: ['scope:core', 'scope:runtime'] },
  { sourceTag: 'scope:app', onlyDependOnLibsWithTags: ['scope:core', 'scope:runtime'] },
];
const boundaries = (depConstraints) => ['error', { enforceBuildableLibDependency: false, depConstraints }];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '**/.nx/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(layers),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'error',
    },
  },
  {
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    // Tests kept beside the code are tests (the test kits' own sources have no scope rule).
    ignores: ['**/*.test.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(production) },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // Tests, benchmarks, developer tools and the chaos runners' command lines may print.
    files: ['**/*.test.ts', 'bench/**', 'tools/**', 'tests/chaos/src/*/cli.ts'],
    rules: { 'no-console': 'off' },
  },
);
