import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Namespace } from '@synod/protocol';
import { isDevelopmentCertificateFile } from './nats-auth.js';

/**
 * Configuration comes only from environment variables, parsed with zod at start. Each helper below
 * says in its message what it expects, so a bad value produces a line like
 *   PORT: expected an integer from 0 to 65535, got "abc"
 * An empty variable counts as unset (compose files often pass `VAR=`).
 */
const unsetIfEmpty = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);

function intFrom(min: number, max: number) {
  const expected = `expected an integer from ${min} to ${max}`;
  return z
    .string({ error: expected })
    .regex(/^\s*-?\d+\s*$/, expected)
    .transform(Number)
    .pipe(z.number().int().min(min, expected).max(max, expected));
}

export const env = {
  /** Any schema over the raw string, with empty meaning unset. */
  of<T extends z.ZodType>(schema: T) {
    return z.preprocess(unsetIfEmpty, schema);
  },
  int(opts: { min?: number; max?: number; default: number }) {
    return z.preprocess(unsetIfEmpty, intFrom(opts.min ?? 0, opts.max ?? Number.MAX_SAFE_INTEGER).default(opts.default));
  },
  optionalInt(opts: { min?: number; max?: number }) {
    return z.preprocess(unsetIfEmpty, intFrom(opts.min ?? 0, opts.max ?? Number.MAX_SAFE_INTEGER).optional());
  },
  /** A TCP port; 0 asks the OS for a free one. */
  port(defaultPort: number) {
    return env.int({ min: 0, max: 65535, default: defaultPort });
  },
  /** Unset means "no listener"; 0 means a free port. */
  optionalPort() {
    return env.optionalInt({ min: 0, max: 65535 });
  },
  /** `true`/`false` (also `1`/`0`, `yes`/`no`, any case). */
  bool(defaultValue: boolean) {
    const expected = 'expected true or false';
    return z.preprocess(
      unsetIfEmpty,
      z
        .string({ error: expected })
        .transform((s, ctx) => {
          const v = s.trim().toLowerCase();
          if (['true', '1', 'yes'].includes(v)) return true;
          if (['false', '0', 'no'].includes(v)) return false;
          ctx.addIssue({ code: 'custom', message: expected });
          return z.NEVER;
        })
        .default(defaultValue),
    );
  },
  oneOf<const T extends readonly [string, ...string[]]>(values: T, defaultValue: T[number]) {
    const expected = `expected one of ${values.join(', ')}`;
    return z.preprocess(unsetIfEmpty, z.enum(values, { error: expected }).default(defaultValue as never));
  },
  string(opts: { default?: string; pattern?: RegExp; expected?: string; maxLength?: number } = {}) {
    const expected = opts.expected ?? `expected a string${opts.pattern ? ` matching ${opts.pattern}` : ''}`;
    let s = z.string({ error: expected }).max(opts.maxLength ?? 4096, expected);
    if (opts.pattern) s = s.regex(opts.pattern, expected);
    return z.preprocess(unsetIfEmpty, opts.default === undefined ? s.optional() : s.default(opts.default));
  },
  /** A path to a file this process can read now (a missing or unreadable one is a bad value); unset = none. */
  readableFile(expected: string) {
    return z.preprocess(
      unsetIfEmpty,
      z
        .string({ error: expected })
        .max(4096, expected)
        .superRefine((path, ctx) => {
          try {
            readFileSync(path);
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: `${expected}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
          }
        })
        .optional(),
    );
  },
  /** A comma-separated list of nats:// (or tls://, ws://) URLs. */
  natsUrls(defaultUrl: string) {
    const expected = 'expected comma-separated NATS URLs like nats://host:4222';
    return z.preprocess(
      unsetIfEmpty,
      z
        .string({ error: expected })
        .default(defaultUrl)
        .transform((s) => s.split(',').map((u) => u.trim()).filter((u) => u.length > 0))
        .pipe(
          z
            .array(
              z.string().refine((u) => {
                try {
                  const url = new URL(u.includes('://') ? u : `nats://${u}`);
                  return ['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname !== '';
                } catch {
                  return false;
                }
              }, expected),
            )
            .min(1, expected),
        ),
    );
  },
};

/**
 * `SYNOD_ENV`: `production` refuses development defaults (see {@link productionIssues}); anything
 * else is development, which accepts them and says so in the log. Only this variable switches the
 * mode: images set `NODE_ENV=production` for Node's and libraries' own reasons.
 */
export const SYNOD_ENVS = ['development', 'production'] as const;
export type SynodEnv = (typeof SYNOD_ENVS)[number];

/**
 * The mark of a development default secret: compose's defaults are `<service>-dev-secret`, and the
 * development certificates (`@synod/dev-pki`) carry it in their issuer. Production mode refuses any
 * secret that contains it, and any certificate or CA that carries it.
 */
export const DEVELOPMENT_SECRET_MARK = 'dev-secret';

/** Variables every app takes. */
export const commonEnv = {
  SYNOD_ENV: env.oneOf(SYNOD_ENVS, 'development'),
  NATS_URL: env.natsUrls('nats://127.0.0.1:4222'),
  /**
   * The NATS identity of this service. NATS_USER names it (replies come to `_INBOX.<NATS_USER>`);
   * it proves itself with a client certificate (NATS_TLS_CERT and NATS_TLS_KEY), a credentials file
   * (NATS_CREDS) or, in development mode, a password. NATS_TLS_CA: the CA of the servers'
   * certificates. See nats-auth.ts.
   */
  NATS_USER: env.string({ maxLength: 256, expected: 'expected a NATS user name' }),
  NATS_PASSWORD: env.string({ maxLength: 256, expected: 'expected a NATS password' }),
  NATS_TLS_CA: env.readableFile('expected a PEM file of the CA certificates that sign the NATS servers'),
  NATS_TLS_CERT: env.readableFile("expected a PEM file of this service's client certificate"),
  NATS_TLS_KEY: env.readableFile("expected a PEM file of the client certificate's private key"),
  NATS_CREDS: env.readableFile('expected a NATS credentials file (user JWT and NKey seed)'),
  SYNOD_NAMESPACE: env.of(Namespace.default('synod')),
  /** Port of /healthz, /readyz, /metrics: unset = no HTTP, 0 = a free port. */
  HTTP_PORT: env.optionalPort(),
  LOG_LEVEL: env.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  /** How long a drain on SIGTERM may take before the process gives up and exits 1. */
  SHUTDOWN_TIMEOUT_MS: env.int({ min: 100, max: 600_000, default: 15_000 }),
  /** Dropped bad input (malformed bus messages) is logged as a summary at most once per this many ms. */
  DROP_LOG_INTERVAL_MS: env.int({ min: 100, max: 3_600_000, default: 10_000 }),
};

export interface ConfigIssue {
  variable: string;
  expected: string;
  received: string | undefined;
}

export type ConfigResult<T> = { ok: true; config: T } | { ok: false; issues: ConfigIssue[] };

const SECRET = /PASS|SECRET|TOKEN|CREDS|KEY/i;

/**
 * What production mode refuses in a parsed configuration: a secret variable holding a development
 * default (it contains {@link DEVELOPMENT_SECRET_MARK}); a password for NATS (in production a
 * service proves who it is with a client certificate or a credentials file, never a password); no
 * NATS credentials at all; and a certificate or CA from the development PKI (its issuer carries the
 * mark). Empty outside production mode.
 */
export function productionIssues(config: Record<string, unknown>): ConfigIssue[] {
  if (config.SYNOD_ENV !== 'production') return [];
  const issues: ConfigIssue[] = [];
  for (const [variable, value] of Object.entries(config)) {
    if (variable === 'NATS_PASSWORD') continue;
    if (SECRET.test(variable) && typeof value === 'string' && value.toLowerCase().includes(DEVELOPMENT_SECRET_MARK)) {
      issues.push({ variable, expected: 'a secret of your own in production (SYNOD_ENV=production): this is a development default', received: '<redacted>' });
    }
  }
  if (config.NATS_PASSWORD !== undefined) {
    issues.push({
      variable: 'NATS_PASSWORD',
      expected: 'no NATS password in production (SYNOD_ENV=production): passwords are for development; use a client certificate (NATS_TLS_CERT, NATS_TLS_KEY) or NATS_CREDS',
      received: '<redacted>',
    });
  }
  if (config.NATS_TLS_CERT === undefined && config.NATS_CREDS === undefined) {
    issues.push({
      variable: 'NATS_TLS_CERT',
      expected: 'NATS credentials in production (SYNOD_ENV=production): a client certificate (NATS_TLS_CERT with NATS_TLS_KEY) or NATS_CREDS',
      received: undefined,
    });
  }
  for (const variable of ['NATS_TLS_CERT', 'NATS_TLS_CA']) {
    const path = config[variable];
    if (typeof path === 'string' && isDevelopmentCertificateFile(path, DEVELOPMENT_SECRET_MARK)) {
      issues.push({
        variable,
        expected: `a certificate of your own in production (SYNOD_ENV=production): this one is from the development CA (it carries ${DEVELOPMENT_SECRET_MARK})`,
        received: path,
      });
    }
  }
  return issues;
}

/** Parses `source` against the shape of env variables; never throws. */
export function parseConfig<S extends z.ZodRawShape>(
  shape: S,
  source: Record<string, string | undefined> = process.env,
): ConfigResult<z.output<z.ZodObject<S>>> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(shape)) picked[key] = source[key];
  const result = z.object(shape).safeParse(picked);
  if (result.success) return { ok: true, config: result.data };
  const issues = result.error.issues.map((issue): ConfigIssue => {
    const variable = String(issue.path[0] ?? '?');
    const raw = source[variable];
    const received = raw === undefined ? undefined : SECRET.test(variable) ? '<redacted>' : raw.slice(0, 120);
    return { variable, expected: issue.message, received };
  });
  return { ok: false, issues };
}

export function formatConfigIssues(issues: ConfigIssue[]): string {
  const lines = issues.map(
    (i) => `  ${i.variable}: ${i.expected}, got ${i.received === undefined ? 'nothing' : JSON.stringify(i.received)}`,
  );
  return `invalid configuration:\n${lines.join('\n')}`;
}

/** Exit status for a bad configuration, as every Synod app uses it. */
export const EXIT_BAD_CONFIG = 2;

/**
 * Parses the environment or ends the process with status 2, printing what is wrong on stderr and
 * as one JSON line on stdout (so log collectors see it too).
 */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  service: string,
  source: Record<string, string | undefined> = process.env,
): z.output<z.ZodObject<S>> {
  const result = parseConfig(shape, source);
  if (result.ok) return result.config;
  exitOnBadConfig(service, result.issues);
}

export function exitOnBadConfig(service: string, issues: ConfigIssue[]): never {
  process.stderr.write(`${service}: ${formatConfigIssues(issues)}\n`);
  process.stdout.write(`${JSON.stringify({ level: 60, time: Date.now(), service, msg: 'invalid configuration', issues })}\n`);
  process.exit(EXIT_BAD_CONFIG);
}
