// `npm run console:screenshots`: a picture of each console page in docs/console/, taken in Debian's
// Chromium (CHROMIUM_PATH overrides) against a small stack this script starts and stops: nats-server,
// three replicas, a lock manager, the gateway with three sample workers under light load, and the
// console, with some keys, leases and locks in the store.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { LockClient } from '@synod/locks';
import { StoreClient } from '@synod/store-client';
import { AppProcess, appScript, startNats, startReplicas, uniqueNamespace, workspaceRoot } from '@synod/testkit';
import { findChromium, launchChromium } from '../apps/console/test/browser.js';
import { hashPassword } from '../apps/console/src/users.js';

const chromium = findChromium();
if (!chromium) {
  console.error('console:screenshots needs Chromium: apt-get install chromium, or set CHROMIUM_PATH');
  process.exit(2);
}
const out = join(workspaceRoot, 'docs', 'console');
mkdirSync(out, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'synod-shots-'));
const ns = uniqueNamespace('shots');
const apps: AppProcess[] = [];
const nats = await startNats();
try {
  apps.push(...(await startReplicas({ natsUrl: nats.url, namespace: ns, ids: ['n1', 'n2', 'n3'], dataRoot: join(dir, 'data'), env: { TICK_MS: '50' } })));
  const common = { NATS_URL: nats.url, SYNOD_NAMESPACE: ns, LOG_LEVEL: 'warn' };
  apps.push((await AppProcess.start({ script: appScript('lock-manager'), env: common })).app);
  const usersFile = join(dir, 'users.json');
  writeFileSync(usersFile, JSON.stringify({ users: [{ name: 'operator', role: 'admin', scrypt: await hashPassword('screenshot-password') }] }));
  const consoleApp = await AppProcess.start({ script: appScript('console'), env: { ...common, CONSOLE_PORT: '0', CONSOLE_HOST: '127.0.0.1', CONSOLE_USERS_FILE: usersFile, CONSOLE_REFRESH_MS: '500' } });
  apps.push(consoleApp.app);

  const nc = await connect({ servers: nats.url });
  const store = new StoreClient({ nc, namespace: ns });
  for (const [k, v] of [
    ['config/orders/batch-size', '250'],
    ['config/orders/region', 'eu-west'],
    ['config/payments/retries', '3'],
    ['features/new-checkout', 'on'],
    ['features/search-v2', 'off'],
  ]) {
    await store.put(k!, v!);
  }
  await store.put('config/orders/batch-size', '500');
  const lease = await store.leaseGrant(60_000);
  await store.put('services/billing/leader', 'billing-7f3a', { lease: lease.id });
  const locks = new LockClient({ nc, namespace: ns });
  const held = [await locks.acquire('orders', { ttlMs: 30_000 }), await locks.acquire('inventory', { ttlMs: 30_000, mode: 'read' })];
  const waiter = locks.acquire('orders', { ttlMs: 30_000, timeoutMs: 60_000 }).catch(() => undefined);

  const browser = await launchChromium(chromium);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(String(consoleApp.ready.consoleUrl));
  await page.screenshot({ path: join(out, 'login.png') });
  await page.fill('input[name=user]', 'operator');
  await page.fill('input[name=password]', 'screenshot-password');
  await page.click('button[type=submit]');
  await page.getByTestId('members').waitFor();
  // A few refreshes, so the charts have a line.
  await new Promise((r) => setTimeout(r, 6000));
  await page.screenshot({ path: join(out, 'cluster.png'), fullPage: true });
  await page.getByTestId('nav-keys').click();
  await page.locator('[data-testid=key-row][data-key="config/orders/batch-size"]').click();
  await page.getByTestId('key-detail').waitFor();
  await page.screenshot({ path: join(out, 'keys.png'), fullPage: true });
  await page.getByTestId('nav-leases').click();
  await page.getByTestId('lease-row').first().waitFor();
  await page.screenshot({ path: join(out, 'leases.png'), fullPage: true });
  await page.getByTestId('nav-locks').click();
  await page.locator('[data-testid=lock-row][data-lock=orders]').waitFor();
  await page.screenshot({ path: join(out, 'locks.png'), fullPage: true });
  await browser.close();
  for (const l of held) await l.release();
  await (await waiter)?.release();
  await locks.close();
  await store.close();
  await nc.close();
  console.log(`screenshots in ${out}: login, cluster, keys, leases, locks`);
} finally {
  await Promise.all(apps.map((a) => a.stop(5000)));
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}
