import { readJson, type Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { MARKERS, START_WORKERS_FILE, insertAboveMarker, normalizeOptions, workerGenerator } from '../src/index.js';

const COMPOSE = `x-nats-environment: &nats-environment
  SYNOD_SUBJECTS_SVC_SAMPLE: \${SYNOD_NAMESPACE:-synod}.svc.sample.>
  ${MARKERS.composeNatsEnvironment}

x-app: &app
  restart: unless-stopped

x-app-environment: &app-environment
  NATS_URL: nats://nats-1:4222

x-after-nats: &after-nats
  nats-1: { condition: service_started }

services:
  sample-worker:
    <<: *app
  ${MARKERS.composeServices}

  synodctl:
    image: synod/synodctl
`;

const AUTH = `authorization {
  users: [
    {
      user: "CN=sample,O=Synod"
    }
    ${MARKERS.natsUsers}
  ]
}
`;

describe('nx g @synod/plugin:worker', () => {
  let tree: Tree;

  beforeEach(() => {
    tree = createTreeWithEmptyWorkspace();
    tree.write('docker-compose.yml', COMPOSE);
    tree.write('infra/nats/auth.conf', AUTH);
  });

  it('creates the app with its example endpoint, unit test and process test', async () => {
    const callback = await workerGenerator(tree, { name: 'pricing', skipInstall: true });
    expect(callback).toBeUndefined();
    for (const f of ['package.json', 'tsconfig.json', 'vitest.config.mts', 'vitest.process.config.mts', 'README.md', 'src/main.ts', 'src/greet.ts', 'test/greet.test.ts', 'test/pricing.process.test.ts']) {
      expect(tree.exists(`apps/pricing/${f}`), f).toBe(true);
    }
    const pkg = readJson(tree, 'apps/pricing/package.json');
    expect(pkg).toMatchObject({
      name: '@synod/pricing',
      type: 'module',
      exports: { '.': './src/main.ts' },
      scripts: { build: 'node ../../tools/build-app.mjs .', 'test-process': 'vitest run -c vitest.process.config.mts' },
      nx: { tags: ['type:app'] },
      dependencies: { '@synod/worker-sdk': '*' },
    });
    expect(pkg.nx.targets['test-process'].dependsOn).toContainEqual({ projects: ['@synod/balancer-gateway'], target: 'build' });
    const main = tree.read('apps/pricing/src/main.ts', 'utf-8')!;
    expect(main).toContain("service: 'pricing'");
    expect(main).toContain('defineWorker(');
    expect(main).not.toMatch(/<%|%>/);
    const test = tree.read('apps/pricing/test/pricing.process.test.ts', 'utf-8')!;
    expect(test).toContain("appScript('pricing')");
    expect(test).toContain('/v1/services/pricing/');
  });

  it('adds the worker to npm start, creating the list when it is missing, once per name', async () => {
    await workerGenerator(tree, { name: 'pricing', skipInstall: true });
    await workerGenerator(tree, { name: 'billing', skipInstall: true });
    expect(readJson(tree, START_WORKERS_FILE).workers).toEqual([
      { name: 'pricing', app: 'pricing', env: { WORKER_ID: 'pricing-1' } },
      { name: 'billing', app: 'billing', env: { WORKER_ID: 'billing-1' } },
    ]);
  });

  it('adds a compose service above the marker, and the NATS user and variables of its service', async () => {
    await workerGenerator(tree, { name: 'pricing-v2', skipInstall: true });
    const compose = tree.read('docker-compose.yml', 'utf-8')!;
    const lines = compose.split('\n');
    const service = lines.indexOf('  pricing-v2:');
    expect(service).toBeGreaterThan(lines.indexOf('  sample-worker:'));
    expect(service).toBeLessThan(lines.indexOf(`  ${MARKERS.composeServices}`));
    expect(compose).toContain('      args: { APP: pricing-v2, NODE_IMAGE: "${NODE_IMAGE:-node:24-alpine}" }');
    // Its identity: the certificate the certs service issues for its auth.conf user; no password.
    expect(compose).toContain('      NATS_USER: pricing-v2\n      NATS_TLS_CERT: /certs/pricing-v2/cert.pem\n      NATS_TLS_KEY: /certs/pricing-v2/key.pem\n');
    expect(compose).not.toContain('PASSWORD');
    expect(compose).toContain('      WORKER_SERVICE: pricing-v2');
    expect(lines.indexOf('  SYNOD_SUBJECTS_SVC_PRICING_V2: ${SYNOD_NAMESPACE:-synod}.svc.pricing-v2.>')).toBe(lines.indexOf(`  ${MARKERS.composeNatsEnvironment}`) - 1);
    const auth = tree.read('infra/nats/auth.conf', 'utf-8')!;
    expect(auth).toContain('      user: "CN=pricing-v2,O=Synod"\n      permissions: {');
    expect(auth).not.toContain('password');
    // Replies reach the worker only under its own inbox prefix.
    expect(auth).toContain('subscribe: { allow: [$SYNOD_SUBJECTS_SVC_PRICING_V2, $SYNOD_SUBJECTS_DISCOVER, "_INBOX.pricing-v2.>"] }');
    expect(auth.indexOf('user: pricing-v2')).toBeLessThan(auth.indexOf(MARKERS.natsUsers));
  });

  it('a second app of an existing service gets a compose service but no second NATS user', async () => {
    await workerGenerator(tree, { name: 'sample-fast', service: 'sample', skipInstall: true });
    const compose = tree.read('docker-compose.yml', 'utf-8')!;
    expect(compose).toContain('  sample-fast:');
    expect(compose).toContain('      WORKER_SERVICE: sample');
    expect(compose.match(/SYNOD_SUBJECTS_SVC_SAMPLE:/g)).toHaveLength(1);
    expect(tree.read('infra/nats/auth.conf', 'utf-8')!.match(/user: "CN=sample,O=Synod"/g)).toHaveLength(1);
    expect(tree.read('apps/sample-fast/src/main.ts', 'utf-8')).toContain("service: 'sample'");
  });

  it('tolerates a compose file without its marker or anchors, and no compose file at all', async () => {
    tree.write('docker-compose.yml', 'services:\n  nats:\n    image: nats\n');
    await workerGenerator(tree, { name: 'a', skipInstall: true });
    expect(tree.read('docker-compose.yml', 'utf-8')).toBe('services:\n  nats:\n    image: nats\n');
    tree.write('docker-compose.yml', `services:\n  nats:\n    image: nats\n  ${MARKERS.composeServices}\n`);
    await workerGenerator(tree, { name: 'b', skipInstall: true });
    expect(tree.read('docker-compose.yml', 'utf-8')).not.toContain('  b:');
    tree.delete('docker-compose.yml');
    tree.delete('infra/nats/auth.conf');
    await workerGenerator(tree, { name: 'c', skipInstall: true });
    expect(tree.exists('apps/c/src/main.ts')).toBe(true);
  });

  it('refuses a taken name or a bad one, and returns the install step unless skipped', async () => {
    await workerGenerator(tree, { name: 'pricing', skipInstall: true });
    await expect(workerGenerator(tree, { name: 'pricing', skipInstall: true })).rejects.toThrow(/exists already/);
    tree.write('libs/pricing-lib/package.json', JSON.stringify({ name: '@synod/other' }));
    await expect(workerGenerator(tree, { name: 'other', skipInstall: true })).rejects.toThrow(/@synod\/other exists already/);
    await expect(workerGenerator(tree, { name: 'Pricing', skipInstall: true })).rejects.toThrow(/lower-case/);
    await expect(workerGenerator(tree, { name: 'ok', service: 'a.b', skipInstall: true })).rejects.toThrow(/service/);
    expect(typeof (await workerGenerator(tree, { name: 'installs' }))).toBe('function');
  });
});

describe('generator helpers', () => {
  it('derives names for env variables and identifiers', () => {
    expect(normalizeOptions({ name: 'pricing-v2' })).toEqual({ name: 'pricing-v2', service: 'pricing-v2', envSuffix: 'PRICING_V2', propertyName: 'pricingV2', className: 'PricingV2' });
    expect(normalizeOptions({ name: 'x', service: 'My_Svc' }).envSuffix).toBe('MY_SVC');
  });

  it('inserts a block above the marker at its indentation, or reports the marker missing', () => {
    expect(insertAboveMarker('a:\n    # m\nb', '# m', ['x:', '  y', ''])).toBe('a:\n    x:\n      y\n\n    # m\nb');
    expect(insertAboveMarker('a\nb', '# m', ['x'])).toBeUndefined();
  });
});
