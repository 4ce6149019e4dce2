import { readFileSync } from 'node:fs';
import { env } from '@synod/service-kit';
import { z } from 'zod';
import { UsersFile } from './users.js';

/** A PEM file read at start; a missing or unreadable one fails the configuration, naming the variable. */
const PemFile = z
  .string()
  .max(4096)
  .transform((path, ctx) => {
    try {
      return readFileSync(path);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected a readable PEM file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: ${path})` });
      return z.NEVER;
    }
  })
  .optional();

/** The console's environment, beyond the variables every app takes. */
export const consoleEnv = {
  CONSOLE_PORT: env.port(8081),
  CONSOLE_HOST: env.string({ default: '0.0.0.0', expected: 'expected a host or address to listen on' }),
  /** JSON of users (name, role viewer|admin, scrypt hash); `tools/console-user.mjs` makes entries. */
  CONSOLE_USERS_FILE: env.of(UsersFile),
  /** Development only: one admin whose password is made at start and printed once in the ready line. */
  CONSOLE_DEV: env.bool(false),
  /** How often live views are pushed, in ms. */
  CONSOLE_REFRESH_MS: env.int({ min: 100, max: 60_000, default: 1000 }),
  CONSOLE_SESSION_TTL_MS: env.int({ min: 60_000, max: 7 * 24 * 3600_000, default: 8 * 3600_000 }),
  CONSOLE_LOGIN_ATTEMPTS_PER_MINUTE: env.int({ min: 1, max: 10_000, default: 10 }),
  /** Serve HTTPS with this certificate and key (PEM); the session cookie is then `Secure`. */
  CONSOLE_TLS_CERT: env.of(PemFile),
  CONSOLE_TLS_KEY: env.of(PemFile),
  /** Budget of one call to the store or the lock manager, in ms. */
  CONSOLE_BACKEND_TIMEOUT_MS: env.int({ min: 100, max: 60_000, default: 3000 }),
};
