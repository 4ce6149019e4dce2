import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateIdentities, ensureDevelopmentPki, routeHosts } from '@synod/dev-pki';
import { subjects } from '@synod/protocol';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  IDENTITIES,
  STACK_SERVICES,
  composeVariable,
  interpolate,
  mayPublish,
  maySubscribe,
  natsUsers,
  parseDotEnv,
  parseNatsConf,
  repoRoot,
  subjectMatches,
  type NatsUser,
} from '../src/index.js';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const composeText = read('docker-compose.yml');

interface Service {
  image?: string;
  user?: string;
  restart?: string;
  command?: string[];
  build?: { dockerfile: string; args: Record<string, string> };
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; interval?: string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  init?: boolean;
}

function composeModel(env: Record<string, string> = {}): { services: Record<string, Service>; volumes: Record<string, unknown>; 'x-nats-environment': Record<string, string> } {
  return parse(interpolate(composeText, env), { merge: true });
}

function authUsers(vars: Record<string, string>): NatsUser[] {
  return natsUsers(parseNatsConf(read('infra/nats/auth.conf'), vars));
}

describe('.env handling (the variables compose, the Dockerfiles and the tests share)', () => {
  it('reads KEY=value lines, comments and quotes; later lines win', () => {
    expect(parseDotEnv('# c\nA=1\nB="two words"\nC=\'x\'\nexport D=4 # note\nA=5\nnot a line\n')).toEqual({ A: '5', B: 'two words', C: 'x', D: '4' });
  });

  it('takes the environment first, then .env, then the default', () => {
    expect(composeVariable('X', 'd', { X: 'env' }, { X: 'file' })).toBe('env');
    expect(composeVariable('X', 'd', { X: '' }, { X: 'file' })).toBe('file');
    expect(composeVariable('X', 'd', {}, {})).toBe('d');
  });
});

describe('docker-compose.yml', () => {
  const model = composeModel();
  const apps = Object.entries(model.services).filter(([, s]) => s.build !== undefined && !s.profiles);

  it('runs the whole stack: three NATS nodes, three replicas with a volume each, two lock managers, the gateway, three workers', () => {
    // Services the worker generator adds (other WORKER_SERVICEs) may sit beside these.
    const extra = Object.keys(model.services).filter((n) => !model.services[n]!.profiles && !(STACK_SERVICES as readonly string[]).includes(n));
    for (const n of extra) expect(model.services[n]!.environment?.WORKER_SERVICE, n).not.toBe('sample');
    expect(Object.keys(model.services)).toEqual(expect.arrayContaining([...STACK_SERVICES]));
    expect(model.services.synodctl?.profiles).toEqual(['cli']);
    const replicas = ['consensus-1', 'consensus-2', 'consensus-3'].map((n) => model.services[n]!);
    expect(replicas.map((r) => r.environment!.NODE_ID)).toEqual(['n1', 'n2', 'n3']);
    for (const r of replicas) expect(r.environment!.PEERS).toBe('n1,n2,n3');
    expect(replicas.map((r) => r.volumes![0]!.split(':')[0])).toEqual(['consensus-1', 'consensus-2', 'consensus-3']);
    expect(Object.keys(model.volumes).sort()).toEqual(['certs', 'consensus-1', 'consensus-2', 'consensus-3']);
    expect(model.services['balancer-gateway']!.ports).toContain('127.0.0.1:8080:8080');
    const weights = ['sample-worker-a', 'sample-worker-b', 'sample-worker'].map((n) => Number(model.services[n]!.environment!.WORKER_WEIGHT));
    expect(new Set(weights).size).toBe(3);
  });

  it('passes ENGINE and the namespace through, raft and synod by default', () => {
    expect(model.services['consensus-1']!.environment!.ENGINE).toBe('raft');
    const paxos = composeModel({ ENGINE: 'paxos', SYNOD_NAMESPACE: 'team.x' });
    expect(paxos.services['consensus-2']!.environment!.ENGINE).toBe('paxos');
    for (const [, s] of Object.entries(paxos.services)) if (s.environment?.SYNOD_NAMESPACE) expect(s.environment.SYNOD_NAMESPACE).toBe('team.x');
    expect(paxos['x-nats-environment'].SYNOD_SUBJECTS_PEER).toBe('team.x.peer.>');
  });

  it('runs every app in development mode explicitly, with the gateway admin routes closed unless SYNOD_ADMIN_TOKEN is set', () => {
    for (const [name, s] of Object.entries(model.services)) {
      if (s.environment?.HTTP_PORT !== undefined) expect(s.environment.SYNOD_ENV, name).toBe('development');
    }
    expect(model.services['balancer-gateway']!.environment!.ADMIN_TOKEN).toBe('');
    expect(composeModel({ SYNOD_ADMIN_TOKEN: 'a-real-token-0123456789' }).services['balancer-gateway']!.environment!.ADMIN_TOKEN).toBe('a-real-token-0123456789');
    expect(composeModel({ SYNOD_ENV: 'production' }).services['consensus-1']!.environment!.SYNOD_ENV).toBe('production');
  });

  it('orders start-up by health: lock managers after a healthy store, the gateway after healthy workers, probes every second', () => {
    for (const [, s] of apps) {
      if (s.healthcheck?.disable) continue;
      expect(s.healthcheck?.test).toEqual(['CMD', 'node', '/app/healthcheck.mjs']);
      expect(s.healthcheck?.interval).toBe('1s');
      // An init as PID 1, so a SIGTERM during start-up is not ignored.
      expect(s.init).toBe(true);
    }
    for (const n of ['lock-manager-1', 'lock-manager-2']) {
      expect(model.services[n]!.depends_on!['consensus-1']!.condition).toBe('service_healthy');
    }
    expect(model.services['balancer-gateway']!.depends_on!['sample-worker-a']!.condition).toBe('service_healthy');
  });

  it('builds every app from the same Dockerfile by APP, on NODE_IMAGE, with the offline Dockerfile selectable', () => {
    for (const [name, s] of apps) {
      expect(s.build!.dockerfile, name).toBe('infra/docker/Dockerfile.build');
      expect(s.build!.args.NODE_IMAGE).toBe('node:24-alpine');
      expect(s.image).toBe(`synod/${s.build!.args.APP}:latest`);
    }
    const offline = composeModel({ SYNOD_DOCKERFILE: 'infra/docker/Dockerfile', NODE_IMAGE: 'synod/node-offline:20', NATS_IMAGE: 'synod/nats-offline:2' });
    expect(offline.services['consensus-1']!.build!.dockerfile).toBe('infra/docker/Dockerfile');
    expect(offline.services['consensus-1']!.build!.args.NODE_IMAGE).toBe('synod/node-offline:20');
    expect(offline.services['nats-2']!.image).toBe('synod/nats-offline:2');
  });

  it('has the worker generator marker in the services section, after the sample workers', () => {
    const lines = composeText.split('\n');
    const marker = lines.findIndex((l) => l.trim() === '# synod:workers');
    expect(marker).toBeGreaterThan(lines.findIndex((l) => l.startsWith('  sample-worker:')));
    expect(marker).toBeLessThan(lines.findIndex((l) => l.startsWith('volumes:')));
    expect(lines[marker]).toMatch(/^ {2}#/);
  });

  it('gives each app its identity: a user of auth.conf, its certificate and key from the certificates volume, no password', () => {
    const users = new Map(authUsers(model['x-nats-environment']).map((u) => [u.name, u]));
    const clients = Object.entries(model.services).filter(([, s]) => s.environment?.NATS_USER);
    for (const n of [...STACK_SERVICES.filter((x) => !x.startsWith('nats-') && x !== 'certs'), 'synodctl']) expect(clients.map(([name]) => name)).toContain(n);
    for (const [name, s] of clients) {
      const user = s.environment!.NATS_USER!;
      expect(users.get(user)?.user, name).toBe(`CN=${user},O=Synod`);
      expect(s.environment, name).toMatchObject({ NATS_TLS_CA: '/certs/ca.pem', NATS_TLS_CERT: `/certs/${user}/cert.pem`, NATS_TLS_KEY: `/certs/${user}/key.pem` });
      expect(s.environment!.NATS_PASSWORD, name).toBeUndefined();
      expect(s.volumes, name).toContain('certs:/certs:ro');
      expect(s.environment!.NATS_URL, name).toBe('nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222');
    }
    expect(Object.fromEntries([...users.values()].filter((u) => u.name in IDENTITIES).map((u) => [u.name, u.user]))).toEqual(IDENTITIES);
    expect(composeText).not.toMatch(/PASSWORD/);
  });

  it('runs the certs service once, as root, before the NATS nodes, for every identity of auth.conf and every node of the cluster', () => {
    const certs = model.services.certs!;
    expect(certs.user).toBe('0:0');
    expect(certs.restart).toBe('no');
    expect(certs.build!.args.APP).toBe('certs');
    expect(certs.volumes).toEqual(['certs:/certs', '.:/workspace']);
    expect(certs.environment).toMatchObject({ CERTS_DIR: '/certs', CERTS_NATS_CONFIG_DIR: '/workspace/infra/nats', CERTS_CLI_DIR: '/workspace/tmp/certs/synodctl', CERTS_KEY_OWNER: '1000:1000' });
    expect(composeModel({ SYNOD_CLI_CERTS: 'tmp/certs/other' }).services.certs!.environment!.CERTS_CLI_DIR).toBe('/workspace/tmp/certs/other');
    // The identities it issues are the users of auth.conf; the nodes, the hosts of the routes.
    expect(certificateIdentities(read('infra/nats/auth.conf')).map((i) => i.name)).toEqual(expect.arrayContaining(Object.keys(IDENTITIES)));
    const nodes = routeHosts(read('infra/nats/nats.conf'));
    expect(nodes).toEqual(['nats-1', 'nats-2', 'nats-3']);
    for (const n of nodes) {
      const node = model.services[n]!;
      expect(node.depends_on!.certs!.condition).toBe('service_completed_successfully');
      expect(node.volumes).toContain('certs:/certs:ro');
      expect(node.environment).toMatchObject({ SYNOD_NATS_TLS_CA: '/certs/ca.pem', SYNOD_NATS_TLS_CERT: `/certs/${n}/cert.pem`, SYNOD_NATS_TLS_KEY: `/certs/${n}/key.pem` });
      // Routes gossiped between the nodes carry host names, which the certificates hold.
      expect(node.command).toEqual(['-c', '/etc/nats/nats.conf', '--name', n, '--cluster_advertise', `${n}:6222`]);
    }
    // Real certificates from files: the same layout, mounted instead of the volume.
    const own = composeModel({ SYNOD_CERTS: './my-certs' });
    expect(own.services['consensus-1']!.volumes).toContain('./my-certs:/certs:ro');
    expect(own.services.certs!.volumes).toContain('./my-certs:/certs');
  });
});

describe('NATS permissions (infra/nats/auth.conf)', () => {
  const forNamespace = (ns: string) => new Map(authUsers(composeModel({ SYNOD_NAMESPACE: ns })['x-nats-environment']).map((u) => [u.name, u]));
  const users = forNamespace('synod');
  const ns = 'synod';
  /** Users of worker services other than sample (from the worker generator) answer like sample. */
  const isOtherWorker = (u: NatsUser) => !(u.name in IDENTITIES);
  const who = (can: (u: NatsUser) => boolean) => [...users.values()].filter((u) => !isOtherWorker(u) && can(u)).map((u) => u.name).sort();

  it('gives every other worker service the same shape of permissions as sample, on its own subjects', () => {
    for (const u of [...users.values()].filter(isOtherWorker)) {
      expect(mayPublish(u, subjects.workerEndpoint(ns, u.name, 'w1', 'e'))).toBe(true);
      expect(mayPublish(u, subjects.workerEndpoint(ns, 'sample', 'w1', 'e'))).toBe(false);
      expect(mayPublish(u, subjects.peer(ns, 'n1'))).toBe(false);
      expect(mayPublish(u, subjects.kvLeader(ns))).toBe(false);
      expect(mayPublish(u, subjects.registryAnnounce(ns))).toBe(true);
    }
  });

  it("lets only the console publish the lock manager's admin subject, which only the lock manager serves", () => {
    expect(who((u) => mayPublish(u, subjects.lockAdmin(ns)))).toEqual(['console']);
    expect(who((u) => maySubscribe(u, subjects.lockAdmin(ns)))).toEqual(['lock-manager']);
    expect(who((u) => mayPublish(u, subjects.lockApi(ns)))).toEqual(['console', 'synodctl']);
  });

  it('lets only consensus replicas publish peer messages', () => {
    expect(who((u) => mayPublish(u, subjects.peer(ns, 'n1')))).toEqual(['consensus']);
    expect(who((u) => maySubscribe(u, subjects.peer(ns, 'n1')))).toEqual(['consensus']);
  });

  it("lets only lock-manager, the CLI and the console reach the store's client subjects, and only consensus serve them", () => {
    for (const s of [subjects.kvLeader(ns), subjects.kvNode(ns, 'n2'), subjects.kvAny(ns), subjects.kvWatch(ns, 'n3')]) {
      expect(who((u) => mayPublish(u, s)), s).toEqual(['console', 'lock-manager', 'synodctl']);
      expect(who((u) => maySubscribe(u, s)), s).toEqual(['consensus']);
    }
    expect(who((u) => mayPublish(u, subjects.lockApi(ns)))).toEqual(['console', 'synodctl']);
    expect(who((u) => maySubscribe(u, subjects.lockApi(ns)))).toEqual(['lock-manager']);
  });

  it("lets a worker publish only its own service's subjects and the registry's", () => {
    const sample = users.get('sample')!;
    expect(mayPublish(sample, subjects.registryAnnounce(ns))).toBe(true);
    expect(mayPublish(sample, subjects.registryDeregister(ns))).toBe(true);
    expect(mayPublish(sample, subjects.workerEndpoint(ns, 'sample', 'w1', 'echo'))).toBe(true);
    expect(mayPublish(sample, subjects.workerEndpoint(ns, 'billing', 'w1', 'charge'))).toBe(false);
    expect(maySubscribe(sample, subjects.workerEndpoint(ns, 'sample', 'w1', 'echo'))).toBe(true);
    expect(maySubscribe(sample, subjects.workerPing(ns, 'sample', 'w1'))).toBe(true);
    expect(maySubscribe(sample, subjects.workerEndpoint(ns, 'billing', 'w1', 'charge'))).toBe(false);
    expect(maySubscribe(sample, subjects.registryDiscover(ns))).toBe(true);
    expect(maySubscribe(sample, subjects.registryAnnounce(ns))).toBe(false);
  });

  it('lets the gateway reach every service and ask for announcements, but not announce workers itself', () => {
    const gateway = users.get('gateway')!;
    expect(mayPublish(gateway, subjects.workerEndpoint(ns, 'billing', 'w1', 'charge'))).toBe(true);
    expect(mayPublish(gateway, subjects.workerPing(ns, 'sample', 'w1'))).toBe(true);
    expect(mayPublish(gateway, subjects.registryDiscover(ns))).toBe(true);
    expect(mayPublish(gateway, subjects.registryAnnounce(ns))).toBe(false);
    expect(maySubscribe(gateway, subjects.registryAll(ns))).toBe(true);
  });

  it('lets every user send replies on _INBOX and receive them only under its own _INBOX.<user> prefix', () => {
    for (const u of users.values()) {
      expect(mayPublish(u, '_INBOX.abc.1'), u.name).toBe(true);
      expect(maySubscribe(u, `_INBOX.${u.name}.abc.*`), u.name).toBe(true);
      expect(maySubscribe(u, '_INBOX.abc.*'), u.name).toBe(false);
      expect(maySubscribe(u, '_INBOX.>'), u.name).toBe(false);
      for (const other of users.values()) if (other.name !== u.name) expect(maySubscribe(u, `_INBOX.${other.name}.x.*`), `${u.name} on ${other.name}'s inbox`).toBe(false);
    }
  });

  it('follows SYNOD_NAMESPACE, multi-token namespaces included', () => {
    const team = forNamespace('team.x');
    expect(mayPublish(team.get('consensus')!, subjects.peer('team.x', 'n1'))).toBe(true);
    expect(mayPublish(team.get('consensus')!, subjects.peer('synod', 'n1'))).toBe(false);
    expect(mayPublish(team.get('sample')!, subjects.peer('team.x', 'n1'))).toBe(false);
  });

  it('matches subjects as NATS does', () => {
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
  });

  it('is the same table in the Helm values for Kubernetes (namespace synod), on TLS with certificate identities', () => {
    const values = parse(read('infra/k8s/nats-values.yaml')) as {
      config: {
        nats: { tls: { enabled: boolean; secretName: string; merge: Record<string, unknown> } };
        cluster: { tls: { enabled: boolean; secretName: string; merge: Record<string, unknown> } };
        merge: { authorization: { users: { user: string; password?: string; permissions: { publish: { allow: string[] }; subscribe: { allow: string[] } } }[] } };
      };
      tlsCA: { enabled: boolean; secretName: string; key: string };
    };
    const helm = values.config.merge.authorization.users.map((u) => ({ user: u.user, publish: u.permissions.publish.allow, subscribe: u.permissions.subscribe.allow }));
    expect(helm).toEqual([...users.values()].filter((u) => !isOtherWorker(u)).map((u) => ({ user: u.user, publish: u.publish, subscribe: u.subscribe })));
    for (const u of values.config.merge.authorization.users) expect(u.password, u.user).toBeUndefined();
    expect(values.config.nats.tls).toMatchObject({ enabled: true, merge: { verify_and_map: true } });
    expect(values.config.cluster.tls).toMatchObject({ enabled: true, merge: { verify_cert_and_check_known_urls: true } });
    expect(values.tlsCA).toMatchObject({ enabled: true, key: 'ca.crt' });
  });

  it('clusters the three NATS nodes of the compose file and includes the users', () => {
    const tlsFiles = { SYNOD_NATS_TLS_CA: '/certs/ca.pem', SYNOD_NATS_TLS_CERT: '/certs/nats-1/cert.pem', SYNOD_NATS_TLS_KEY: '/certs/nats-1/key.pem' };
    const conf = parseNatsConf(read('infra/nats/nats.conf').replace(/^include .*$/m, ''), tlsFiles);
    // Clients and routes: TLS with a certificate from the CA, mapped to a user; routes only from a node.
    expect(conf.tls).toMatchObject({ verify_and_map: true, ca_file: '/certs/ca.pem', cert_file: '/certs/nats-1/cert.pem' });
    expect((conf.cluster as { tls: unknown }).tls).toMatchObject({ verify_cert_and_check_known_urls: true, ca_file: '/certs/ca.pem' });
    expect((conf.cluster as { routes: string[] }).routes).toEqual(['nats-route://nats-1:6222', 'nats-route://nats-2:6222', 'nats-route://nats-3:6222']);
    expect(read('infra/nats/nats.conf')).toMatch(/^include \.\/auth\.conf$/m);
  });

  const natsServer = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).stdout.trim();
  it.skipIf(natsServer === '')('is accepted by nats-server with the variables and certificates compose gives a node, and refused without them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synod-compose-'));
    try {
      await ensureDevelopmentPki({ dir, servers: [{ name: 'nats-1', hosts: ['nats-1'] }], clients: [], now: new Date(), validityDays: 31 });
      const node = composeModel().services['nats-1']!.environment!;
      const files = { SYNOD_NATS_TLS_CA: join(dir, 'ca.pem'), SYNOD_NATS_TLS_CERT: join(dir, 'nats-1', 'cert.pem'), SYNOD_NATS_TLS_KEY: join(dir, 'nats-1', 'key.pem') };
      expect(Object.keys(files).every((k) => k in node)).toBe(true);
      const env = { PATH: process.env.PATH ?? '', ...node, ...files };
      const ok = spawnSync(natsServer, ['-t', '-c', join(repoRoot, 'infra/nats/nats.conf')], { env, encoding: 'utf8' });
      expect(ok.status, ok.stderr).toBe(0);
      const missing = spawnSync(natsServer, ['-t', '-c', join(repoRoot, 'infra/nats/nats.conf')], { env: { PATH: env.PATH }, encoding: 'utf8' });
      expect(missing.status).not.toBe(0);
      expect(missing.stderr + missing.stdout).toMatch(/variable reference/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
