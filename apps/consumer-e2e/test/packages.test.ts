import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workspaceRoot } from '@synod/testkit';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_DIRS, importedPackages, manifestProblems, packedProblems, readPublished, type Manifest } from '../src/packages.js';

const published = readPublished(workspaceRoot);
const manifests = published.map((p) => p.manifest);

describe('the published packages, as their manifests say', () => {
  it.each(published.map((p) => [p.manifest.name, p] as const))('%s is ready to publish', (_name, p) => {
    expect(manifestProblems(p.manifest, manifests)).toEqual([]);
    expect(existsSync(join(workspaceRoot, p.dir, 'README.md'))).toBe(true);
  });

  it('are exactly the workspace packages that are not private', () => {
    const open = ['apps', 'libs']
      .flatMap((group) => readdirSync(join(workspaceRoot, group)).map((dir) => `${group}/${dir}`))
      .filter((dir) => existsSync(join(workspaceRoot, dir, 'package.json')))
      .filter((dir) => (JSON.parse(readFileSync(join(workspaceRoot, dir, 'package.json'), 'utf8')) as Manifest).private !== true);
    expect(open.sort()).toEqual([...PUBLISHED_DIRS].sort());
  });
});

describe('the manifest checks', () => {
  const good = manifests[2]!;
  it.each<[string, Partial<Manifest>, RegExp]>([
    ['private', { private: true }, /is private/],
    ['a version of its own', { version: '9.9.9' }, /version 9\.9\.9, the others/],
    ['a loose range on a sibling', { dependencies: { ...good.dependencies, '@synod/protocol': '*' } }, /depends on @synod\/protocol@\*, not exactly/],
    ['a dependency on an unpublished package', { dependencies: { ...good.dependencies, '@synod/kv-state': '0.1.0' } }, /@synod\/kv-state, which is not published/],
    ['no engines', { engines: undefined }, /engines\.node/],
    ['exports at the sources only', { exports: { '.': './src/index.ts' } }, /exports has no "\." entry/],
    ['default before types', { exports: { '.': { '@synod/source': './src/index.ts', default: './dist/index.js', types: './dist/index.d.ts' } } }, /types must come before default/],
    ['tests shipped', { files: ['dist', 'src'] }, /src without its tests/],
    ['a bin outside the build', { bin: { x: './src/main.ts' } }, /bin x \(\.\/src\/main\.ts\) is not a built file/],
    ['restricted access', { publishConfig: undefined }, /publishConfig\.access/],
  ])('catch %s', (_what, change, problem) => {
    expect(manifestProblems({ ...good, ...change }, manifests).join('\n')).toMatch(problem);
  });

  it('find the packages built files import, not Node built-ins or relative files', () => {
    const code = [
      "import { z } from 'zod';",
      "import type { Msg } from '@nats-io/transport-node';",
      "export * from './errors.js';",
      "import { readFile } from 'node:fs/promises';",
      "import { EventEmitter } from 'events';",
      "const t = import('fastify');",
      'declare const x: import("prom-client").Registry;',
      "export { subjects } from '@synod/protocol/subjects';",
    ].join('\n');
    expect([...importedPackages(code)].sort()).toEqual(['@nats-io/transport-node', '@synod/protocol', 'fastify', 'prom-client', 'zod']);
  });

  it('catch test files, other packages and stray files in a packed list', () => {
    const own = new Set(['src/index.ts', 'src/client.ts']);
    const good = manifests[2]!;
    const ok = ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/client.js', 'dist/client.js.map', 'src/index.ts'];
    expect(packedProblems(good, ok, own)).toEqual([]);
    const bad = [...ok, 'src/client.test.ts', 'dist/client.test.js', 'test/x.ts', 'src/protocol.ts', 'dist/protocol.js', 'node_modules/zod/index.js'];
    expect(packedProblems(good, bad, own)).toEqual([
      'ships a test file: src/client.test.ts',
      'ships a test file: dist/client.test.js',
      'ships a test file: test/x.ts',
      'ships a source that is not its own: src/protocol.ts',
      'ships a built file with no source of its own: dist/protocol.js',
      'ships a file outside dist and src: node_modules/zod/index.js',
    ]);
    expect(packedProblems(good, ['package.json'], own)).toEqual(['has no README.md', 'does not ship dist/index.js', 'does not ship dist/index.d.ts']);
  });
});
