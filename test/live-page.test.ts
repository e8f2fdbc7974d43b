/// <reference lib="dom" />
// The live earnings page in real headless Chromium: watch user 2, insert a
// purchase with plain SQL, and see the feed and the totals update. Saves
// screenshots to test-results/ for people to look at.

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { projectRoot } from '../bridge/src/project-paths.js';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { useDatabasePerTest } from './support/database.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const chromiumPresent = existsSync(chromiumPath);
if (!chromiumPresent) console.warn(`live page test skipped: no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);
const screenshots = path.join(projectRoot, 'test-results');

// Each test has a database of its own with the original demo users (ids 1-5),
// which the page's defaults (buyer 4) are made for, and a bridge on it.
const db = useDatabasePerTest();

describe.skipIf(!chromiumPresent)('the live earnings page', () => {
  let bridge: TestBridge;
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(screenshots, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    await loadOriginalDemoUsers(db.sql);
    bridge = await startTestBridge(db.url);
  });
  afterEach(async () => {
    await bridge?.stop();
  });

  test('a purchase inserted with plain SQL shows up in the feed and the totals within 2 s', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`${bridge.http}/?user=2`);
    await page.getByText('Watching user 2 — live.').waitFor({ timeout: 10_000 });
    // The totals load beside the subscription, so they may show a moment after "live".
    await page.waitForFunction(() => document.getElementById('total')?.textContent === '0.00', undefined, { timeout: 2000 });

    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (4, 1000)`;
    await page.locator('#feed li').first().waitFor({ timeout: 2000 });
    await page.waitForFunction(() => document.getElementById('total')?.textContent === '50.00', undefined, { timeout: 2000 });
    expect(await page.locator('#feed li').first().textContent()).toContain('+50.00');
    expect(await page.locator('#levels li').allTextContents()).toEqual(['Level 150.001 earning', 'Level 20.000 earnings']);

    await page.screenshot({ path: path.join(screenshots, 'live-earnings-page.png'), fullPage: true });
    await page.close();
  });

  test('the simulate-purchase form records a purchase when the bridge runs open, and it looks tidy on a phone', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await page.goto(`${bridge.http}/?user=2`);
    await page.getByText('Watching user 2 — live.').waitFor({ timeout: 10_000 });
    const before = await page.locator('#feed li').count();
    await page.locator('#amount').fill('1999.99');
    await page.getByRole('button', { name: 'Buy' }).click();
    await page.getByText(/Purchase \d+: user 2 \+99\.9995, user 1 \+19\.9999/).waitFor({ timeout: 5000 });
    await page.waitForFunction((count) => document.querySelectorAll('#feed li').length > count, before, { timeout: 5000 });
    expect(await page.locator('#feed li').first().textContent()).toContain('+99.9995');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(screenshots, 'live-earnings-page-phone.png'), fullPage: true });
    await page.close();
  });

  test('a refund shows as a negative, marked reversal, and the totals net to 0.00', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`${bridge.http}/?user=2`);
    await page.getByText('Watching user 2 — live.').waitFor({ timeout: 10_000 });
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (4, 1000)`;
    await page.waitForFunction(() => document.getElementById('total')?.textContent === '50.00', undefined, { timeout: 5000 });
    await db.sql`INSERT INTO refunds (purchase_id, amount) SELECT max(id), 1000 FROM purchases`;
    await page.locator('#feed li.reversal').waitFor({ timeout: 5000 });
    await page.waitForFunction(() => document.getElementById('total')?.textContent === '0.00', undefined, { timeout: 5000 });
    expect(await page.locator('#feed li').allTextContents()).toEqual([
      expect.stringMatching(/^-50\.00reversed · level 1 · refund 1 of 1000\.00 on purchase 1 of 1000\.00/),
      expect.stringMatching(/^\+50\.00level 1 · from user 4 · purchase 1 of 1000\.00/),
    ]);
    expect(await page.locator('#levels li').allTextContents()).toEqual(['Level 10.001 earning, 1 reversal', 'Level 20.000 earnings']);
    await page.screenshot({ path: path.join(screenshots, 'live-earnings-page-refund.png'), fullPage: true });
    await page.close();
  });
});
