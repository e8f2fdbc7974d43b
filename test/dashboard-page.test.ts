// The dashboard in real headless Chromium, on a real bridge and database:
// the referrer's view and the operator's console render seeded data (desktop
// and phone screenshots in test-results/), follow purchases, refunds and
// payouts made elsewhere without a reload, refuse a wrong token without
// showing any data, and stay responsive and still while 1,000 events stream.

import path from 'node:path';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { chromiumPath, chromiumPresent, desktop, launchChromium, performanceSince, phone, recordPerformance, screenshots, sidewaysOverflow } from './support/browser.js';
import { useDatabasePerTest, type Sql } from './support/database.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';
import { setSettings } from './support/payouts.js';
import { onlyRow } from './support/rows.js';

if (!chromiumPresent) console.warn(`dashboard page tests skipped: no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);
const jwtSecret = 'a-test-secret-that-is-long-enough-for-hs256';

// Each test has a database of its own with the original demo tree (ids 1-5), named, and a bridge on it.
const db = useDatabasePerTest();

/** The demo tree with names and user 6 under user 4, a phone for user 2, purchases, a partial refund, a paid payout, then a 7-day holding period and one more purchase (pending). */
async function seed(sql: Sql): Promise<void> {
  await loadOriginalDemoUsers(sql);
  await sql`INSERT INTO users (id, referred_by) VALUES (6, 4)`;
  await sql`UPDATE users SET name = v.name FROM (VALUES (1, 'Asha'), (2, 'Bilal'), (3, 'Chen'), (4, 'Dana'), (5, 'Elif'), (6, 'Farah')) v(id, name) WHERE users.id = v.id`;
  await sql`UPDATE users SET phone_number = '+919800000002' WHERE id = 2`;
  await setSettings(sql, { holdingPeriod: '0', currency: 'INR' });
  const first = await purchase(sql, 4, '1000');
  await purchase(sql, 3, '1999.99');
  await sql`INSERT INTO refunds (purchase_id, amount, reason) VALUES (${first}, 100, 'one item returned')`;
  await sql`SELECT mark_payout_paid(p.id, 'UTR-2026-0042') FROM create_payouts() p WHERE p.user_id = 2`;
  await purchase(sql, 4, '1250.50');
  await purchase(sql, 5, '640');
  await purchase(sql, 6, '500');
  await setSettings(sql, { holdingPeriod: '7 days', currency: 'INR' });
  await purchase(sql, 3, '300');
}

async function purchase(sql: Sql, userId: number, amount: string): Promise<string> {
  return onlyRow(await sql<{ id: string }[]>`INSERT INTO purchases (user_id, amount) VALUES (${userId}, ${amount}) RETURNING id::text`).id;
}

/** User 2's balance by state, and the last seq of their stream, as the database has them. */
async function user2(sql: Sql) {
  return onlyRow(await sql<{ total: string; paid: string; inPayout: string; lastSeq: number }[]>`
    SELECT decimal_text(b.total) AS total, decimal_text(b.paid) AS paid, decimal_text(b.in_payout) AS "inPayout",
           (SELECT last_seq FROM earning_sequences WHERE user_id = 2)::int AS "lastSeq"
    FROM user_balance(2) b`);
}

const exact = (page: Page, id: string) => page.locator(`#${id}`).getAttribute('data-exact');
const waitForExact = (page: Page, id: string, value: string) =>
  page.waitForFunction(([target, amount]) => document.getElementById(target!)?.dataset.exact === amount, [id, value], { timeout: 10_000 });
const topEvent = (page: Page) => page.locator('#history .event:not([hidden])').first();
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(screenshots, name), fullPage: true });

async function openReferrer(page: Page, bridge: TestBridge) {
  await page.goto(`${bridge.http}/?user=2`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('#history .event[data-seq]') && document.querySelector('#downline li'), undefined, { timeout: 10_000 });
}

describe.skipIf(!chromiumPresent)('the dashboard', () => {
  let browser: Browser;
  let bridge: TestBridge;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    await seed(db.sql);
  });
  afterEach(async () => {
    await bridge?.stop();
  });

  test('the referrer view shows balance by state, history, chart, downline, payouts and messages, on a desktop and a phone', async () => {
    bridge = await startTestBridge(db.url);
    const { total, paid } = await user2(db.sql);
    for (const [device, name] of [[desktop, 'referrer-desktop.png'], [phone, 'referrer-phone.png']] as const) {
      const page = await browser.newPage(device);
      await openReferrer(page, bridge);
      await waitForExact(page, 'balance-total', total);
      expect(await exact(page, 'balance-paid')).toBe(paid);
      expect(await page.locator('#balance-total').textContent()).toBe(`${total.replace(/(\.\d\d)\d*$/, '$1')} INR`);
      expect(await page.locator('#balance-total').getAttribute('title')).toBe(`${total} INR exactly`);
      expect(await page.locator('#downline li').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.userId))).toEqual(['3', '4', '6']);
      expect(await page.locator('#payouts li').first().textContent()).toContain('UTR-2026-0042');
      expect(await page.locator('#history .event[data-type="earning_reversed"]').count()).toBe(1);
      expect(await page.locator('#chart rect.bar').count()).toBe(30);
      expect(await page.locator('#notifications li .badge').first().textContent()).toBe('queued');
      expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
      await shot(page, name);
      await page.close();
    }
  });

  test('a purchase inserted with SQL reaches the history, the chart and the balance without a reload; a refund shows as a reversal and lowers the balance', async () => {
    bridge = await startTestBridge(db.url);
    const page = await browser.newPage(desktop);
    await openReferrer(page, bridge);
    const bought = await purchase(db.sql, 4, '1000');
    const afterPurchase = await user2(db.sql);
    await page.locator(`#history .event[data-seq="${afterPurchase.lastSeq}"]`).waitFor({ timeout: 5000 });
    expect(await topEvent(page).textContent()).toMatch(/^Level 1 commission\+50\.00 INRfrom user 4 · purchase \d+ of 1,000\.00/);
    await waitForExact(page, 'balance-total', afterPurchase.total);
    const today = onlyRow(await db.sql<{ day: string; net: string }[]>`
      SELECT (now() AT TIME ZONE 'UTC')::date::text AS day, decimal_text(sum(amount)) AS net FROM earnings
      WHERE user_id = 2 AND created_at >= (now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC'`);
    await page.waitForFunction(({ day, net }) => document.querySelector(`#chart rect[data-date="${day}"] title`)?.textContent?.startsWith(`${day}: ${net} INR`), today, { timeout: 5000 });

    await db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${bought}, 1000)`;
    const afterRefund = await user2(db.sql);
    await page.locator(`#history .event[data-seq="${afterRefund.lastSeq}"][data-type="earning_reversed"]`).waitFor({ timeout: 5000 });
    expect(await topEvent(page).textContent()).toMatch(/^Reversed · refund \d+-50\.00 INRlevel 1 · 1,000\.00 refunded of purchase \d+/);
    await waitForExact(page, 'balance-total', afterRefund.total);
    expect(afterRefund.total).toBe((await user2(db.sql)).total);
    expect(afterRefund.total).not.toBe(afterPurchase.total);
    await shot(page, 'referrer-refund.png');
    await page.close();
  });

  test('the operator creates payouts and marks one paid, and the referrer page follows live; settings errors show beside their field', async () => {
    bridge = await startTestBridge(db.url);
    const referrer = await browser.newPage(desktop);
    await openReferrer(referrer, bridge);
    const operator = await browser.newPage(desktop);
    await operator.goto(`${bridge.http}/operator`);
    await operator.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
    expect(await operator.locator('#top-referrers tr').count()).toBe(3);
    expect(await operator.locator('#total-purchases').getAttribute('data-exact')).toBe('5690.49');

    await operator.getByRole('button', { name: 'Create payouts' }).click();
    await operator.getByText(/^Created \d+ payouts?\.$/).waitFor({ timeout: 5000 });
    const payout = onlyRow(await db.sql<{ id: string; amount: string }[]>`SELECT id::text, decimal_text(amount) AS amount FROM payouts WHERE user_id = 2 AND status = 'pending'`);
    await referrer.locator(`#payouts li[data-payout-id="${payout.id}"] .badge`).filter({ hasText: 'pending' }).waitFor({ timeout: 5000 });
    await waitForExact(referrer, 'balance-inPayout', payout.amount);
    expect(await topEvent(referrer).getAttribute('data-type')).toBe('payout_created');
    await shot(operator, 'operator-desktop.png');

    const row = operator.locator(`#pending-payouts tr[data-payout-id="${payout.id}"]`);
    await row.getByRole('textbox').fill('UTR-2026-0099');
    await row.getByRole('button', { name: 'Mark paid' }).click();
    await row.waitFor({ state: 'detached', timeout: 5000 });
    await referrer.locator(`#payouts li[data-payout-id="${payout.id}"]`).filter({ hasText: 'UTR-2026-0099' }).waitFor({ timeout: 5000 });
    await waitForExact(referrer, 'balance-paid', (await user2(db.sql)).paid);
    expect(await topEvent(referrer).getAttribute('data-type')).toBe('payout_paid');
    await shot(referrer, 'referrer-after-payout.png');

    await operator.locator('#setting-minimumPayout').fill('10.005');
    await operator.getByRole('button', { name: 'Save settings' }).click();
    await operator.locator('#error-minimumPayout').filter({ hasText: 'minimumPayout must have at most 2 decimals' }).waitFor({ timeout: 5000 });
    await operator.close();

    const small = await browser.newPage(phone);
    await small.goto(`${bridge.http}/operator`);
    await small.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
    expect(await sidewaysOverflow(small)).toBeLessThanOrEqual(0);
    await shot(small, 'operator-phone.png');
    await Promise.all([small.close(), referrer.close()]);
  });

  test('a read that fails on a flaky network is tried again: the history and downline fill and the alert clears without a reload', async () => {
    bridge = await startTestBridge(db.url);
    const page = await browser.newPage(desktop);
    for (const pattern of ['**/api/users/2/referrals*', '**/api/users/2/events*']) {
      let failures = 0;
      await page.route(pattern, (route) => (failures++ === 0 ? route.abort('connectionreset') : route.continue()));
    }
    await openReferrer(page, bridge);
    await page.locator('#problem').waitFor({ state: 'hidden', timeout: 10_000 });
    expect(await page.locator('#downline li').count()).toBe(3);
    await page.close();
  });

  test('the bridge restarting on the same port: the page says so, reconnects, catches up what it missed, once', async () => {
    // node:http: uWebSockets.js keeps a closed port bound while this process lives, so only a new process could take it again.
    bridge = await startTestBridge(db.url, { TRANSPORT: 'node' });
    const port = new URL(bridge.http).port;
    const page = await browser.newPage(desktop);
    await openReferrer(page, bridge);
    await bridge.stop();
    await page.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
    await purchase(db.sql, 4, '70');
    const missed = await user2(db.sql);
    bridge = await startTestBridge(db.url, { TRANSPORT: 'node', PORT: port });
    await page.locator(`#history .event[data-seq="${missed.lastSeq}"]`).waitFor({ timeout: 15_000 });
    await waitForExact(page, 'balance-total', missed.total);
    const seqs = await page.locator('#history .event[data-seq]:not([hidden])').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.seq));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(await page.locator('#history-count').textContent()).toBe(`${missed.lastSeq} shown`);
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('live');
    await page.close();
  });

  test('the operator\'s reference typed for a payout survives the console\'s refresh, with the focus', async () => {
    bridge = await startTestBridge(db.url);
    await db.sql`SELECT create_payouts()`;
    const payout = onlyRow(await db.sql<{ id: string }[]>`SELECT id::text FROM payouts WHERE user_id = 2 AND status = 'pending'`);
    const operator = await browser.newPage(desktop);
    await operator.goto(`${bridge.http}/operator`);
    await operator.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
    const reference = operator.locator(`#pending-payouts tr[data-payout-id="${payout.id}"]`).getByRole('textbox');
    await reference.fill('UTR-2026-01');
    const updated = await operator.locator('#connection-text').textContent();
    await operator.waitForFunction((before) => document.getElementById('connection-text')?.textContent !== before, updated, { timeout: 15_000 });
    expect(await reference.inputValue()).toBe('UTR-2026-01');
    expect(await reference.evaluate((input) => input === document.activeElement)).toBe(true);
    await operator.close();
  });

  test('with JWT on, a wrong token shows a clear message and no data; the right one shows the dashboard', async () => {
    bridge = await startTestBridge(db.url, { JWT_SECRET: jwtSecret });
    const tokenFor = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));
    const page = await browser.newPage(desktop);
    await page.goto(`${bridge.http}/?user=2`);
    await page.getByText('This bridge needs a token for user 2: enter it and press Open.').waitFor({ timeout: 5000 });
    for (const [token, reason] of [[await tokenFor('3'), 'this token is for user 3, not user 2'], ['not-a-jwt', 'the token is not a valid HS256 JWT']] as const) {
      await page.locator('#token').fill(token);
      await page.getByRole('button', { name: 'Open' }).click();
      await page.getByRole('alert').filter({ hasText: `The token was refused for user 2: ${reason}` }).waitFor({ timeout: 5000 });
      expect(await page.locator('#dashboard').isHidden()).toBe(true);
      expect(await page.locator('#history .event:not([hidden])').count()).toBe(0);
      expect(await page.locator('#connection').getAttribute('data-state')).toBe('stopped');
    }
    await shot(page, 'referrer-wrong-token.png');
    await page.locator('#token').fill(await tokenFor('2'));
    await page.getByRole('button', { name: 'Open' }).click();
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });
    await waitForExact(page, 'balance-total', (await user2(db.sql)).total);
    expect(await page.locator('#problem').isHidden()).toBe(true);
    await page.close();
  });

  test('1,000 events streamed in 20 s keep the page responsive (no long task over 200 ms) and still (no layout shift)', async () => {
    bridge = await startTestBridge(db.url);
    const page = await browser.newPage(desktop);
    await recordPerformance(page);
    await openReferrer(page, bridge);
    await waitForExact(page, 'balance-total', (await user2(db.sql)).total);
    const startedAt = await page.evaluate(() => performance.now());

    // 200 statements of 5 purchases each, one every 100 ms: 50 events a second for user 2.
    const began = Date.now();
    for (let statement = 0; statement < 200; statement++) {
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT 4, 10 + n FROM generate_series(1, 5) n`;
      const due = began + (statement + 1) * 100;
      if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    }
    const final = await user2(db.sql);
    await page.locator(`#history .event[data-seq="${final.lastSeq}"]`).waitFor({ timeout: 15_000 });
    await waitForExact(page, 'balance-total', final.total);

    const seen = await performanceSince(page, startedAt);
    expect(seen.longestTaskMs).toBeLessThanOrEqual(200);
    expect(seen.shifts).toEqual([]);
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('live');
    await shot(page, 'referrer-after-1000-events.png');
    await page.close();
  });
});
