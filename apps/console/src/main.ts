import { runService } from '@synod/service-kit';
import { StoreClient } from '@synod/store-client';
import assets from 'console:assets';
import { buildConsoleApp } from './app.js';
import { natsBackend } from './backend.js';
import { consoleEnv } from './config.js';
import { developmentAdmin } from './users.js';

await runService({
  service: 'console',
  env: consoleEnv,
  validate: (c) => {
    const issues = [];
    if (c.CONSOLE_DEV && c.SYNOD_ENV === 'production') {
      issues.push({ variable: 'CONSOLE_DEV', expected: 'expected false in production (SYNOD_ENV=production): set CONSOLE_USERS_FILE', received: 'true' });
    }
    if (!c.CONSOLE_DEV && c.CONSOLE_USERS_FILE === undefined) {
      issues.push({ variable: 'CONSOLE_USERS_FILE', expected: 'expected a users file (tools/console-user.mjs makes entries), or CONSOLE_DEV=true in development', received: undefined });
    }
    if ((c.CONSOLE_TLS_CERT === undefined) !== (c.CONSOLE_TLS_KEY === undefined)) {
      issues.push({ variable: c.CONSOLE_TLS_CERT === undefined ? 'CONSOLE_TLS_CERT' : 'CONSOLE_TLS_KEY', expected: 'expected both CONSOLE_TLS_CERT and CONSOLE_TLS_KEY, or neither', received: undefined });
    }
    return issues;
  },
  async start({ config, log, bus }) {
    const dev = config.CONSOLE_DEV ? await developmentAdmin() : undefined;
    const users = [...(config.CONSOLE_USERS_FILE ?? []), ...(dev ? [dev.user] : [])];
    const store = new StoreClient({ nc: bus.nc, namespace: config.SYNOD_NAMESPACE, clientId: `console-${process.pid}`, timeoutMs: config.CONSOLE_BACKEND_TIMEOUT_MS });
    const backend = natsBackend({ nc: bus.nc, store, namespace: config.SYNOD_NAMESPACE, timeoutMs: config.CONSOLE_BACKEND_TIMEOUT_MS, log: log.child({ component: 'backend' }) });
    const https = config.CONSOLE_TLS_CERT && config.CONSOLE_TLS_KEY ? { cert: config.CONSOLE_TLS_CERT, key: config.CONSOLE_TLS_KEY } : undefined;
    const app = buildConsoleApp({
      backend,
      users,
      assets,
      log: log.child({ component: 'console' }),
      refreshMs: config.CONSOLE_REFRESH_MS,
      sessionTtlMs: config.CONSOLE_SESSION_TTL_MS,
      loginAttemptsPerMinute: config.CONSOLE_LOGIN_ATTEMPTS_PER_MINUTE,
      secure: https !== undefined,
      ...(https ? { https } : {}),
    });
    await app.listen({ port: config.CONSOLE_PORT, host: config.CONSOLE_HOST });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.CONSOLE_PORT;
    if (dev) log.warn({ user: dev.user.name }, 'CONSOLE_DEV: a development admin with a password made at start (in the ready line); set CONSOLE_USERS_FILE for real users');
    return {
      // The development admin's password is printed here once, and nowhere else (under a key the
      // logger's redaction of `password` fields leaves alone).
      ready: { consolePort: port, consoleUrl: `${https ? 'https' : 'http'}://127.0.0.1:${port}`, users: users.length, ...(dev ? { devAdmin: { user: dev.user.name, generatedPassword: dev.password } } : {}) },
      checks: [{ name: 'console', ok: () => app.server.listening }],
      async stop() {
        await app.close();
        await store.close();
      },
    };
  },
});
