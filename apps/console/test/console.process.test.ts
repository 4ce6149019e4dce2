import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { LockClient } from '@synod/locks';
import { AppProcess, appScript, startNats, startReplicas, uniqueNamespace, type NatsFixture } from '@synod/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../src/users.js';
import { findChromium, launchChromium, type Browser, type Page } from './browser.js';
import { MEMBER_STATUS_TIMEOUT_MS } from '../src/backend.js';

/**
 * The console in a real browser (Debian's Chromium through playwright-core) against real
 * processes: nats-server, three replicas, a lock manager and the console.
 */

const TICK_MS = 50;
const ELECTION_TICKS = 10;
/** The longest a replica waits before it campaigns: 2 x ELECTION_TICKS ticks. */
const MAX_ELECTION_MS = 2 * ELECTION_TICKS * TICK_MS;
const REFRESH_MS = 500;

const chromium = findChromium();
const CI = process.env.CI === 'true' || process.env.CI === '1';
if (!chromium && !CI) {
  process.stderr.write('console browser tests skipped: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)\n');
}

describe.runIf(chromium !== undefined || CI)('the console in a browser, against real processes', () => {
  const ns = uniqueNamespace('console');
  const dir = mkdtempSync(join(tmpdir(), 'synod-console-'));
  let nats: NatsFixture;
  let replicas: AppProcess[];
  let lockManager: AppProcess;
  let consoleApp: AppProcess;
  let url: string;
  let nc: NatsConnection;
  let browser: Browser;

  beforeAll(async () => {
    if (!chromium) throw new Error('CI=true and no Chromium: apt-get install chromium, or set CHROMIUM_PATH');
    nats = await startNats();
    replicas = await startReplicas({
      natsUrl: nats.url,
      namespace: ns,
      ids: ['n1', 'n2', 'n3'],
      dataRoot: join(dir, 'data'),
      env: { TICK_MS: String(TICK_MS), ELECTION_TICKS: String(ELECTION_TICKS) },
    });
    lockManager = (await AppProcess.start({ script: appScript('lock-manager'), name: 'lock-manager', env: { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, LOG_LEVEL: 'warn' } })).app;
    const usersFile = join(dir, 'users.json');
    writeFileSync(
      usersFile,
      JSON.stringify({
        users: [
          { name: 'ada', role: 'admin', scrypt: await hashPassword('admin-password-1') },
          { name: 'vic', role: 'viewer', scrypt: await hashPassword('viewer-password-1') },
        ],
      }),
    );
    const started = await AppProcess.start({
      script: appScript('console'),
      name: 'console',
      env: { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, CONSOLE_PORT: '0', CONSOLE_HOST: '127.0.0.1', CONSOLE_USERS_FILE: usersFile, CONSOLE_REFRESH_MS: String(REFRESH_MS), LOG_LEVEL: 'info' },
    });
    consoleApp = started.app;
    url = String(started.ready.consoleUrl);
    nc = await connect({ servers: nats.url });
    browser = await launchChromium(chromium);
  });

  afterAll(async () => {
    await browser?.close();
    await nc?.close();
    await Promise.all([consoleApp, lockManager, ...(replicas ?? [])].filter(Boolean).map((a) => a.stop(5000)));
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function logIn(user: string, password: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(url);
    await page.fill('input[name=user]', user);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    return page;
  }

  it('refuses a wrong password', async () => {
    const page = await logIn('ada', 'not-the-password');
    await page.getByTestId('login-error').waitFor();
    expect(await page.getByTestId('login-error').textContent()).toContain('wrong user or password');
    expect(await page.getByTestId('who').count()).toBe(0);
    await page.close();
  });

  it('shows three members and the leader, and the new leader within 2 x the election timeout + a refresh of a leader SIGKILL', async () => {
    const page = await logIn('ada', 'admin-password-1');
    await page.getByTestId('members').waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid=cluster-leader]')?.textContent?.match(/^n[123]$/) !== null);
    expect(await page.locator('[data-testid^=member-]').count()).toBe(3);
    const leader = (await page.getByTestId('cluster-leader').textContent())!;
    expect(await page.getByTestId(`member-${leader}`).getAttribute('data-role')).toBe('leader');
    const victim = replicas[['n1', 'n2', 'n3'].indexOf(leader)]!;
    victim.signal('SIGKILL');
    const killedAt = Date.now();
    await page.waitForFunction(
      (old) => {
        const now = document.querySelector('[data-testid=cluster-leader]')?.textContent;
        return now !== undefined && now !== null && /^n[123]$/.test(now) && now !== old;
      },
      leader,
      { timeout: 30_000 },
    );
    const tookMs = Date.now() - killedAt;
    // An election, a refresh, and a refresh that was waiting on the killed member's status when it died.
    expect(tookMs).toBeLessThanOrEqual(2 * MAX_ELECTION_MS + REFRESH_MS + MEMBER_STATUS_TIMEOUT_MS);
    await page.getByTestId(`member-${leader}`).and(page.locator('[data-role=unreachable]')).waitFor();
    await page.close();
  });

  it('lets an admin put a key, which the keys page and a live watch show', async () => {
    const page = await logIn('ada', 'admin-password-1');
    await page.getByTestId('nav-keys').click();
    await page.getByTestId('keys-prefix').fill('app/');
    await page.getByTestId('keys-prefix').press('Enter');
    await page.getByTestId('keys-watch').check();
    await page.getByTestId('put-key').fill('app/greeting');
    await page.getByTestId('put-value').fill('hello from the console');
    await page.getByTestId('put-submit').click();
    await page.locator('[data-testid=key-row][data-key="app/greeting"]').waitFor();
    await page.getByTestId('watch-events').getByText('put app/greeting = hello from the console').waitFor();
    await page.locator('[data-testid=key-row][data-key="app/greeting"]').click();
    await page.getByTestId('key-detail').getByText('hello from the console').waitFor();
    await page.close();
  });

  it('shows a lock held by a client with its holder and token, and drops it once released', async () => {
    const locks = new LockClient({ nc, namespace: ns });
    const lock = await locks.acquire('orders', { ttlMs: 10_000 });
    const page = await logIn('ada', 'admin-password-1');
    await page.getByTestId('nav-locks').click();
    const row = page.locator('[data-testid=lock-row][data-lock=orders]');
    await row.waitFor();
    expect(await row.getAttribute('data-token')).toBe(String(lock.token));
    expect(await row.textContent()).toContain(String(lock.lease));
    await lock.release();
    await row.waitFor({ state: 'detached', timeout: 5 * REFRESH_MS + 5000 });
    await locks.close();
    await page.close();
  });

  it('lets an admin force-release a lock with confirmation; the next holder gets a larger token', async () => {
    const locks = new LockClient({ nc, namespace: ns });
    const held = await locks.acquire('reports', { ttlMs: 10_000 });
    const page = await logIn('ada', 'admin-password-1');
    await page.getByTestId('nav-locks').click();
    page.once('dialog', (d) => void d.accept('reports'));
    await page.locator('[data-testid=lock-row][data-lock=reports] [data-testid=force-release]').click();
    await page.getByTestId('locks-message').getByText(`reports: token ${held.token} released`).waitFor();
    const next = await locks.acquire('reports', { ttlMs: 10_000, timeoutMs: 10_000 });
    expect(next.token).toBeGreaterThan(held.token);
    await next.release();
    await locks.close();
    expect(lockManager.lines.some((l) => l.msg === 'lock force-released by an admin' && l.actor === 'ada' && l.name === 'reports')).toBe(true);
    await page.close();
  });

  it('shows a viewer no admin controls, and the API answers 403 to its changes', async () => {
    const page = await logIn('vic', 'viewer-password-1');
    await page.getByTestId('who').getByText('vic (viewer)').waitFor();
    await page.getByTestId('nav-keys').click();
    await page.getByTestId('keys-table').waitFor();
    expect(await page.getByTestId('put-form').count()).toBe(0);
    await page.getByTestId('nav-locks').click();
    await page.getByTestId('locks-table').waitFor();
    expect(await page.getByTestId('force-release').count()).toBe(0);
    const status = await page.evaluate(async () => {
      const s = (await (await fetch('/api/session')).json()) as { csrf: string };
      const r = await fetch('/api/keys', { method: 'PUT', headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf }, body: JSON.stringify({ key: 'x', value: 'y' }) });
      return { status: r.status, body: (await r.json()) as unknown };
    });
    expect(status).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    await page.close();
  });

  it('answers garbage and oversized bodies on every API route with the envelope, and keeps serving', async () => {
    const login = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada', password: 'admin-password-1' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await login.json()) as { csrf: string };
    const routes: [string, string][] = [
      ['POST', '/api/login'],
      ['PUT', '/api/keys'],
      ['DELETE', '/api/keys'],
      ['DELETE', '/api/leases/not-a-lease'],
      ['DELETE', '/api/leases/-4'],
      ['POST', '/api/locks/force-release'],
      ['GET', '/api/keys?limit=zero'],
      ['GET', '/api/key?key='],
      ['GET', '/api/locks?after=a%2Fb'],
      ['GET', '/api/live/watch'],
    ];
    for (const [method, path] of routes) {
      for (const body of method === 'GET' || path.startsWith('/api/leases/') ? [undefined] : ['{garbage', JSON.stringify({ key: 5, value: {}, name: [], token: 'x', user: 1 }), JSON.stringify({ value: 'x'.repeat(3 * 1024 * 1024) })]) {
        const r = await fetch(`${url}${path}`, { method, headers: { cookie, 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body }) });
        expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${method} ${path}`).toBeLessThan(500);
        expect(await r.json(), `${method} ${path}`).toMatchObject({ error: { code: expect.any(String), message: expect.any(String), retryable: false } });
      }
    }
    expect(consoleApp.running).toBe(true);
    expect((await fetch(`${url}/api/cluster`, { headers: { cookie } })).status).toBe(200);
  });
});
