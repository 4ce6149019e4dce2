// One-shot: the development PKI of the stack. Issues what is missing (a local CA, a server
// certificate per NATS node, a client certificate per certificate identity of auth.conf, the CLI's
// copy) and keeps everything else, then exits 0. The compose `certs` service and `tools/dev-certs`
// run it. See README.md for the variables.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { PkiError, certificateIdentities, ensureDevelopmentPki, routeHosts, type Owner } from '@synod/dev-pki';
import { createRootLogger, env, exitOnBadConfig, loadConfig, type ConfigIssue } from '@synod/service-kit';

const list = (expected: string) =>
  env.of(
    z
      .string({ error: expected })
      .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''))
      .pipe(z.array(z.string().regex(/^[A-Za-z0-9_.:*-]{1,253}$/, expected)).min(1, expected))
      .optional(),
  );

const config = loadConfig(
  {
    CERTS_DIR: env.of(z.string({ error: 'expected the folder of the PKI (created if missing)' }).min(1)),
    CERTS_NATS_CONFIG_DIR: env.of(z.string({ error: 'expected the folder of nats.conf and auth.conf' }).default('infra/nats')),
    CERTS_SERVERS: list('expected comma-separated NATS node names (default: the hosts of the routes in nats.conf)'),
    CERTS_SERVER_HOSTS: list('expected comma-separated host names and addresses').default(['localhost', '127.0.0.1', '::1']),
    CERTS_CLI_DIR: env.string({ expected: 'expected a folder for the CLI certificate, key and CA' }),
    CERTS_CLI_IDENTITY: env.of(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected the common name of the CLI identity').default('synodctl')),
    CERTS_KEY_OWNER: env.of(
      z
        .string({ error: 'expected uid:gid' })
        .regex(/^\d{1,10}:\d{1,10}$/, 'expected uid:gid')
        .transform((s): Owner => ({ uid: Number(s.split(':')[0]), gid: Number(s.split(':')[1]) }))
        .optional(),
    ),
    CERTS_VALIDITY_DAYS: env.int({ min: 31, max: 3650, default: 825 }),
    LOG_LEVEL: env.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  },
  'certs',
);
const log = createRootLogger({ service: 'certs', instance: 'certs', level: config.LOG_LEVEL });

function readConfigFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const issue: ConfigIssue = { variable, expected: `expected a folder holding ${path}: ${(err as Error).message}`, received: config.CERTS_NATS_CONFIG_DIR };
    exitOnBadConfig('certs', [issue]);
  }
}

const natsDir = resolve(config.CERTS_NATS_CONFIG_DIR);
const clients = certificateIdentities(readConfigFile('CERTS_NATS_CONFIG_DIR', join(natsDir, 'auth.conf')));
const servers = (config.CERTS_SERVERS ?? routeHosts(readConfigFile('CERTS_NATS_CONFIG_DIR', join(natsDir, 'nats.conf')))).map((name) => ({
  name,
  hosts: [name, ...config.CERTS_SERVER_HOSTS.filter((h) => h !== name)],
}));

try {
  const report = await ensureDevelopmentPki({
    dir: resolve(config.CERTS_DIR),
    servers,
    clients,
    now: new Date(),
    validityDays: config.CERTS_VALIDITY_DAYS,
    ...(config.CERTS_KEY_OWNER ? { clientKeyOwner: config.CERTS_KEY_OWNER } : {}),
    ...(config.CERTS_CLI_DIR ? { copy: { name: config.CERTS_CLI_IDENTITY, dir: resolve(config.CERTS_CLI_DIR) } } : {}),
  });
  log.info({ dir: config.CERTS_DIR, ...report, identities: clients.map((c) => c.subject) }, 'certificates ready');
} catch (err) {
  log.fatal({ err }, err instanceof PkiError ? err.message : 'certificates could not be made');
  process.exit(1);
}
