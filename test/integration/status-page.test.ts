// The status page in a real browser (issue 18): Debian's headless Chromium, driven by
// playwright-core pointed at the system browser (no browser download), loads the admin server's
// `/`, sees the master, then a planned SENTINEL FAILOVER: the new master and the failover's
// timeline appear within a few seconds without a reload, with no console error. The page also fits
// a phone's width. Screenshots go to .tap/status-page/ (STATUS_PAGE_SCREENSHOT=path writes the
// laptop one there too: `STATUS_PAGE_SCREENSHOT=docs/img/status-page.png` refreshes the docs').
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { withGroup, waitFor } from '../helpers/group.js';
import { withProxy } from '../helpers/proxy.js';
import { startIncrLoad } from '../helpers/load.js';
import { Redis } from 'ioredis';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.join(import.meta.dirname, '..', '..');
const OUT = path.join(ROOT, '.tap', 'status-page');
// scripts/ensure-deps.sh installs Debian's chromium when apt can run.
const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} not installed (bash scripts/ensure-deps.sh installs Debian's chromium)`;

async function browser(t: { teardown(fn: () => unknown): void }): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'rsp-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // A fresh profile (the user data dir above), and nothing that talks to the network.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1200 },
    timeout: 60_000,
  });
  t.teardown(async () => {
    await ctx.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  });
  return ctx;
}

/** Collects console errors and uncaught exceptions of a page. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

t.test('the status page follows a planned failover live', { skip: noChromium }, async (t) => {
  const group = await withGroup(t, { replicas: 2 });
  const p = await withProxy(t, group, { admin: true, readListen: { host: '127.0.0.1', port: 0 } });
  const oldMaster = await group.currentMaster();
  // Some traffic to look at: writers on the master listener, readers on the read listener.
  const load = startIncrLoad(p.port, 4);
  t.teardown(() => load.stop());
  const readers = [0, 1].map(() => {
    const r = new Redis({ host: '127.0.0.1', port: p.readPort!, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    return r;
  });
  let reading = true;
  const readLoops = readers.map(async (r) => {
    while (reading) await r.get('ctr:0').catch(() => undefined);
  });
  t.teardown(async () => {
    reading = false;
    await Promise.all(readLoops);
    for (const r of readers) r.disconnect();
  });

  const ctx = await browser(t);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const errors = watchErrors(page);
  const url = `http://127.0.0.1:${p.adminPort}/`;
  await page.goto(url, { waitUntil: 'load' });
  const master = page.locator(`.group[data-group="${group.masterName}"] [data-test=master]`);
  await master.filter({ hasText: oldMaster }).waitFor({ timeout: 15_000 });
  t.equal(await master.textContent(), oldMaster, 'the page shows the master');
  await page.locator('#live.on').waitFor({ timeout: 10_000 });
  await page.getByText('no failover since the proxy started').waitFor({ timeout: 5000 });
  await waitFor(async () => (await page.locator('.group .master').count()) === 1 && (await page.locator('td', { hasText: 'incr' }).count()) > 0, {
    what: 'INCR in the latency table',
  });

  const newMaster = await group.failover();
  const shownAt = Date.now();
  await master.filter({ hasText: newMaster }).waitFor({ timeout: 10_000 });
  const timeline = page.locator('[data-test=timeline]');
  await timeline.locator('li', { hasText: 'master verified' }).waitFor({ timeout: 10_000 });
  const took = Date.now() - shownAt;
  t.comment(`new master and timeline on the page ${took} ms after SENTINEL FAILOVER completed`);
  t.ok(took < 10_000, 'within a few seconds, without a reload');
  const text = (await timeline.textContent()) ?? '';
  t.match(text, /fence/);
  t.match(text, /\+0\.0 ms|\+0 ms/, 'times relative to the fence');
  t.match(text, `${oldMaster} → ${newMaster}`);
  t.match(text, /held \d+/);
  t.match(text, /lost in flight 0/);

  // Let the failover settle and the traffic graph fill, for the screenshot.
  await timeline.locator('li', { hasText: 'sessions re-homed' }).waitFor({ timeout: 10_000 });
  await page.waitForTimeout(3000); // the commands/s graph needs a few polls after the failover
  mkdirSync(OUT, { recursive: true });
  const shot = path.join(OUT, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.comment(`screenshot: ${path.relative(ROOT, shot)}`);
  if (process.env.STATUS_PAGE_SCREENSHOT) {
    await page.setViewportSize({ width: 1440, height: 1080 });
    await page.waitForTimeout(1200);
    await page.screenshot({ path: path.resolve(ROOT, process.env.STATUS_PAGE_SCREENSHOT), fullPage: false });
  }

  // A phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(1200);
  // (A string: this runs in the page, whose DOM types this Node project does not load.)
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
  t.ok(overflow <= 1, `no horizontal scrolling on a phone (${overflow} px)`);
  const widths = (await page.evaluate('Array.from(document.querySelectorAll(".group .card")).map(function (c) { return c.getBoundingClientRect().width; })')) as number[];
  t.ok(widths.length >= 6 && widths.every((w) => w >= 340), `one column: every card spans the phone's width (${widths.map(Math.round).join(', ')} px)`);
  await page.screenshot({ path: path.join(OUT, 'status-page-phone.png') });

  t.same(errors, [], 'no console errors');
});
