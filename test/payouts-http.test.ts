// The commission lifecycle over HTTP: the program's settings, a user's
// balance by state and payouts, and the operator's payouts (create, list,
// mark paid, failed or canceled, export as CSV). Every amount is the
// database's, as a decimal string; every refusal has a stable code and
// changes nothing.

import { SignJWT } from 'jose';
import { afterEach, describe, expect, test } from 'vitest';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { setSettings } from './support/payouts.js';
import { createBuyerWithReferrer, createUser, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);
afterEach(async () => {
  await setSettings(db.sql);
});

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  callBridge(bridge.http, method, path, body, headers);

/** A referrer with `purchaseAmount` × 5% available at once; returns the ids. */
async function referrerWithAvailable(purchaseAmount: string) {
  await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
  const users = await createBuyerWithReferrer(db.sql);
  return { ...users, purchaseId: await purchase(db.sql, users.buyer, purchaseAmount) };
}

/** POST /api/payouts, keeping the payouts of `users` only (other tests' users may be paid too). */
async function createPayoutsFor(users: number[]) {
  const response = await call('POST', '/api/payouts');
  expect([200, 201]).toContain(response.status);
  return (response.json.payouts as Array<{ id: number; userId: number; amount: string }>).filter((payout) => users.includes(payout.userId));
}

const settingsOf = async () => (await call('GET', '/api/settings')).json;

describe('GET and POST /api/settings', () => {
  test('reads the settings, and changes only the ones named', async () => {
    expect(await settingsOf()).toEqual({
      holdingPeriod: 'P30D', minimumPayout: '50.00', minimumPurchaseAmount: '0.00', currency: '', updatedAt: expect.stringMatching(/Z$/),
    });
    const changed = await call('POST', '/api/settings', { holdingPeriod: 'P14D', minimumPayout: 25, currency: 'INR' });
    expect(changed.status).toBe(200);
    expect(changed.json).toMatchObject({ holdingPeriod: 'P14D', minimumPayout: '25.00', minimumPurchaseAmount: '0.00', currency: 'INR' });
    expect((await call('POST', '/api/settings', { minimumPurchaseAmount: '1000.00', holdingPeriod: 'PT0S' })).json)
      .toMatchObject({ holdingPeriod: 'PT0S', minimumPayout: '25.00', minimumPurchaseAmount: '1000.00', currency: 'INR' });
    expect(onlyRow(await db.sql`SELECT holding_period::text, minimum_payout::text FROM program_settings`))
      .toEqual({ holding_period: '00:00:00', minimum_payout: '25' });
  });

  test('every bad value is 422 INVALID_SETTINGS naming the field, and changes nothing', async () => {
    await setSettings(db.sql, { holdingPeriod: '7 days', currency: 'INR' });
    const before = await settingsOf();
    const cases: Array<[unknown, string]> = [
      [{ minimumPayout: -1 }, 'minimumPayout must not be negative'],
      [{ minimumPayout: '10.005' }, 'minimumPayout must have at most 2 decimals (it is never rounded)'],
      [{ minimumPayout: 'fifty' }, 'minimumPayout must be a decimal number (or a string of one) such as 50 or "50.00"'],
      [{ minimumPayout: null }, 'minimumPayout must be a decimal number (or a string of one) such as 50 or "50.00"'],
      [{ minimumPurchaseAmount: -0.01 }, 'minimumPurchaseAmount must not be negative'],
      [{ minimumPurchaseAmount: '1e15' }, 'minimumPurchaseAmount must be at most 999999999999.99'],
      [{ holdingPeriod: '30 days' }, 'holdingPeriod must be an ISO 8601 duration such as "P30D" (30 days), "P2W", "PT12H" or "P0D" (none)'],
      [{ holdingPeriod: 30 }, 'holdingPeriod must be an ISO 8601 duration such as "P30D" (30 days), "P2W", "PT12H" or "P0D" (none)'],
      [{ holdingPeriod: 'P3651D' }, 'holdingPeriod must be at most 3650 days'],
      [{ holdingPeriod: 'P1M' }, 'holdingPeriod must be weeks, days and time such as "P30D" or "PT12H", not months or years, which vary in length'],
      [{ currency: 'Indian rupee' }, 'currency must hold no spaces or control characters, such as "INR"'],
      [{ currency: 'RUPEESRUPEES' }, 'currency must be at most 10 characters, such as "INR"'],
      [{ currency: 356 }, 'currency must be a string such as "INR" ("" for none)'],
      [{ minimumPayout: '10', holdingPeriod: 'P1D', minimumPayot: '5' }, 'unknown setting "minimumPayot": send one or more of holdingPeriod, minimumPayout, minimumPurchaseAmount, currency'],
      [{}, 'the body names no setting: send one or more of holdingPeriod, minimumPayout, minimumPurchaseAmount, currency'],
    ];
    for (const [body, message] of cases) {
      const response = await call('POST', '/api/settings', body);
      expect({ body, status: response.status, error: response.json.error }).toEqual({ body, status: 422, error: { code: 'INVALID_SETTINGS', message } });
    }
    expect((await call('POST', '/api/settings', '[1]')).json.error.code).toBe('INVALID_BODY');
    expect(await settingsOf()).toEqual(before);
  });
});

describe('GET /api/users/:userId/balance', () => {
  test('shows the money by state, in the program currency, adding up to the total', async () => {
    await setSettings(db.sql, { holdingPeriod: '30 days', currency: 'INR' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await purchase(db.sql, buyer, '1999.99');
    const response = await call('GET', `/api/users/${referrer}/balance`);
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      userId: referrer, currency: 'INR', pending: '99.9995', available: '0.00', inPayout: '0.00', paid: '0.00', total: '99.9995',
      nextAvailableAt: expect.stringMatching(/Z$/), asOf: expect.stringMatching(/Z$/),
    });
    // 30 days after the purchase, to the millisecond the API shows.
    expect(Date.parse(response.json.nextAvailableAt) - Date.parse(response.json.asOf)).toBeGreaterThan(30 * 86_400_000 - 60_000);
  });

  test('an unknown user is 404, a user id that is not one is 400', async () => {
    expect((await call('GET', '/api/users/999999/balance')).json.error.code).toBe('USER_NOT_FOUND');
    const bad = await call('GET', '/api/users/two/balance');
    expect({ status: bad.status, code: bad.json.error.code }).toEqual({ status: 400, code: 'INVALID_USER_ID' });
  });
});

describe('POST /api/payouts and the payouts that follow', () => {
  test('creates a payout per user with enough available (201), then nothing more (200); the user and the operator see it', async () => {
    const { referrer } = await referrerWithAvailable('1999.99');
    const created = await call('POST', '/api/payouts');
    expect(created.status).toBe(201);
    const payout = (created.json.payouts as Array<{ id: number; userId: number }>).find((row) => row.userId === referrer);
    expect(payout).toEqual({
      id: expect.any(Number), userId: referrer, amount: '99.99', currency: 'INR', status: 'pending', reference: null, reason: null,
      createdAt: expect.stringMatching(/Z$/), updatedAt: expect.stringMatching(/Z$/), paidAt: null,
    });
    const again = await call('POST', '/api/payouts');
    expect({ status: again.status, payouts: again.json.payouts }).toEqual({ status: 200, payouts: [] });

    expect((await call('GET', `/api/users/${referrer}/balance`)).json).toMatchObject({ available: '0.0095', inPayout: '99.99', paid: '0.00', total: '99.9995' });
    expect((await call('GET', `/api/users/${referrer}/payouts`)).json).toEqual({ userId: referrer, payouts: [payout] });
    expect((await call('GET', `/api/payouts/${payout!.id}`)).json).toEqual(payout);
  });

  test('marks a payout paid with its reference (a repeat is harmless), and then nothing else', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const [payout] = await createPayoutsFor([referrer]);
    const paid = await call('POST', `/api/payouts/${payout!.id}/paid`, { reference: 'TX-2026-0042' });
    expect(paid.status).toBe(200);
    expect(paid.json).toMatchObject({ id: payout!.id, status: 'paid', reference: 'TX-2026-0042', paidAt: expect.stringMatching(/Z$/) });
    expect((await call('POST', `/api/payouts/${payout!.id}/paid`, { reference: 'TX-2026-0042' })).json).toEqual(paid.json);

    for (const [action, body] of [['failed', { reason: 'bounced' }], ['cancel', {}], ['paid', { reference: 'TX-OTHER' }]] as const) {
      const refused = await call('POST', `/api/payouts/${payout!.id}/${action}`, body);
      expect({ action, status: refused.status, code: refused.json.error.code }).toEqual({ action, status: 409, code: 'PAYOUT_STATUS_CONFLICT' });
    }
    expect((await call('POST', `/api/payouts/${payout!.id}/failed`, {})).json.error.message)
      .toBe(`payout ${payout!.id} is already paid (reference TX-2026-0042): it cannot be marked failed`);
    expect((await call('GET', `/api/users/${referrer}/balance`)).json).toMatchObject({ available: '0.00', inPayout: '0.00', paid: '50.00' });
  });

  test('a failed payout, with its reason, returns its amount to available; so does a canceled one', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const [first] = await createPayoutsFor([referrer]);
    const failed = await call('POST', `/api/payouts/${first!.id}/failed`, { reason: 'the bank account is closed' });
    expect(failed.json).toMatchObject({ status: 'failed', reason: 'the bank account is closed', paidAt: null });
    expect((await call('GET', `/api/users/${referrer}/balance`)).json).toMatchObject({ available: '50.00', inPayout: '0.00' });
    const [second] = await createPayoutsFor([referrer]);
    expect((await call('POST', `/api/payouts/${second!.id}/cancel`, {})).json).toMatchObject({ status: 'canceled', reason: null });
    expect((await call('GET', `/api/users/${referrer}/balance`)).json).toMatchObject({ available: '50.00', inPayout: '0.00' });
  });

  test('failed and cancel need no body at all; paid without one says the reference is missing', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const [first] = await createPayoutsFor([referrer]);
    const missingReference = await call('POST', `/api/payouts/${first!.id}/paid`);
    expect({ status: missingReference.status, code: missingReference.json.error.code }).toEqual({ status: 422, code: 'INVALID_REFERENCE' });
    expect((await call('POST', `/api/payouts/${first!.id}/failed`)).json).toMatchObject({ status: 'failed', reason: null });
    const [second] = await createPayoutsFor([referrer]);
    expect((await call('POST', `/api/payouts/${second!.id}/cancel`)).json).toMatchObject({ status: 'canceled', reason: null });
    // A body that is there must still be JSON.
    const [third] = await createPayoutsFor([referrer]);
    const notJson = await call('POST', `/api/payouts/${third!.id}/cancel`, 'reason=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(notJson.status).toBe(415);
  });

  test('the operator lists payouts by status, a page at a time', async () => {
    const { referrer: first } = await referrerWithAvailable('1000');
    const { referrer: second } = await referrerWithAvailable('2000');
    const [one, two] = await createPayoutsFor([first, second]);
    await call('POST', `/api/payouts/${one!.id}/paid`, { reference: 'TX-LIST' });
    const pending = (await call('GET', '/api/payouts?status=pending&limit=1000')).json.payouts as Array<{ id: number; status: string }>;
    expect(pending.map((payout) => payout.id)).toContain(two!.id);
    expect(pending.map((payout) => payout.id)).not.toContain(one!.id);
    expect(pending.every((payout) => payout.status === 'pending')).toBe(true);
    const page = await call('GET', `/api/payouts?after=${one!.id - 1}&limit=1`);
    expect(page.json.payouts.map((payout: { id: number }) => payout.id)).toEqual([one!.id]);
    for (const [query, code] of [['status=done', 'INVALID_STATUS'], ['after=x', 'INVALID_PAYOUT_ID'], ['limit=0', 'INVALID_LIMIT']]) {
      const refused = await call('GET', `/api/payouts?${query}`);
      expect({ query, status: refused.status, code: refused.json.error.code }).toEqual({ query, status: 400, code });
    }
  });

  test('bad requests are refused with their codes and change nothing', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const [payout] = await createPayoutsFor([referrer]);
    const before = onlyRow(await db.sql`SELECT * FROM payouts WHERE id = ${payout!.id}`);
    const cases: Array<[string, unknown, number, string]> = [
      [`/api/payouts/${payout!.id}/paid`, {}, 422, 'INVALID_REFERENCE'],
      [`/api/payouts/${payout!.id}/paid`, { reference: '   ' }, 422, 'INVALID_REFERENCE'],
      [`/api/payouts/${payout!.id}/paid`, { reference: 'x'.repeat(201) }, 422, 'INVALID_REFERENCE'],
      [`/api/payouts/${payout!.id}/paid`, { reference: 'TX\u0000' }, 422, 'INVALID_REFERENCE'],
      [`/api/payouts/${payout!.id}/paid`, { reference: 42 }, 422, 'INVALID_REFERENCE'],
      [`/api/payouts/${payout!.id}/paid`, { reference: 'TX-1', note: 'x' }, 422, 'INVALID_BODY'],
      [`/api/payouts/${payout!.id}/failed`, { reason: 'x'.repeat(501) }, 422, 'INVALID_REASON'],
      [`/api/payouts/${payout!.id}/cancel`, { why: 'x' }, 422, 'INVALID_BODY'],
      [`/api/payouts/${payout!.id}/cancel`, '{"reason":', 400, 'MALFORMED_JSON'],
      ['/api/payouts/9223372036854775807/paid', { reference: 'TX-1' }, 404, 'PAYOUT_NOT_FOUND'],
      ['/api/payouts/0/paid', { reference: 'TX-1' }, 400, 'INVALID_PAYOUT_ID'],
      ['/api/payouts/x/cancel', {}, 400, 'INVALID_PAYOUT_ID'],
    ];
    for (const [path, body, status, code] of cases) {
      const response = await call('POST', path, body);
      expect({ path, body, status: response.status, code: response.json.error.code }).toEqual({ path, body, status, code });
    }
    expect((await call('GET', '/api/payouts/9223372036854775807')).json.error).toEqual({ code: 'PAYOUT_NOT_FOUND', message: 'there is no payout 9223372036854775807' });
    expect(onlyRow(await db.sql`SELECT * FROM payouts WHERE id = ${payout!.id}`)).toEqual(before);
  });
});

describe('GET /api/payouts.csv', () => {
  test('exports a period\'s payouts as RFC 4180 CSV: text quoted, formulas neutralised even after spaces or a line feed or full-width, amounts plain', async () => {
    await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
    const referrers: number[] = [];
    // Formulas a spreadsheet runs: after a space or a line feed, full-width (＝, ＠), or past a ";" (the separator in some locales).
    const names = ['Bilal', 'Smith, "Jo"', '=HYPERLINK("http://evil")', '-2+3', ' =HYPERLINK("http://evil")', '\n=1+1', '＝1+1', 'x;=1+1', ' ＠SUM(A1)'];
    for (const name of names) {
      const referrer = onlyRow(await db.sql<{ id: number }[]>`INSERT INTO users (name) VALUES (${name}) RETURNING id`).id;
      await purchase(db.sql, await createUser(db.sql, referrer), '1999.99');
      referrers.push(referrer);
    }
    const payouts = await createPayoutsFor(referrers);
    await call('POST', `/api/payouts/${payouts[0]!.id}/paid`, { reference: '@SUM(A1:A9)' });
    // Yesterday to tomorrow (UTC): today's payouts, even when the test runs at midnight.
    const { from, to } = onlyRow(await db.sql<{ from: string; to: string }[]>`
      SELECT ((now() AT TIME ZONE 'UTC')::date - 1)::text AS from, ((now() AT TIME ZONE 'UTC')::date + 1)::text AS to`);
    const response = await fetch(`${bridge.http}/api/payouts.csv?from=${from}&to=${to}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="payouts-${from}-to-${to}.csv"`);
    const lines = (await response.text()).split('\r\n');
    expect(lines[0]).toBe('id,user_id,user_name,amount,currency,status,reference,created_at');
    expect(lines.at(-1)).toBe('');
    const ours = lines.filter((line) => referrers.some((referrer) => line.split(',')[1] === String(referrer)));
    expect(ours.map((line) => line.replace(/,[^,]+Z$/, ''))).toEqual([
      `${payouts[0]!.id},${referrers[0]},"Bilal",99.99,"INR","paid","'@SUM(A1:A9)"`,
      `${payouts[1]!.id},${referrers[1]},"Smith, ""Jo""",99.99,"INR","pending",`,
      `${payouts[2]!.id},${referrers[2]},"'=HYPERLINK(""http://evil"")",99.99,"INR","pending",`,
      `${payouts[3]!.id},${referrers[3]},"'-2+3",99.99,"INR","pending",`,
      `${payouts[4]!.id},${referrers[4]},"' =HYPERLINK(""http://evil"")",99.99,"INR","pending",`,
      `${payouts[5]!.id},${referrers[5]},"'\n=1+1",99.99,"INR","pending",`,
      `${payouts[6]!.id},${referrers[6]},"'＝1+1",99.99,"INR","pending",`,
      `${payouts[7]!.id},${referrers[7]},"x;=1+1",99.99,"INR","pending",`,
      `${payouts[8]!.id},${referrers[8]},"' ＠SUM(A1)",99.99,"INR","pending",`,
    ]);
    const paidOnly = (await (await fetch(`${bridge.http}/api/payouts.csv?from=${from}&to=${to}&status=paid`)).text()).split('\r\n');
    expect(paidOnly.filter((line) => line.startsWith(`${payouts[0]!.id},`))).toHaveLength(1);
    expect(paidOnly.filter((line) => line.startsWith(`${payouts[1]!.id},`))).toEqual([]);
  });

  test('a period in the past holds no payouts; a bad period is 400 INVALID_PERIOD', async () => {
    expect(await (await fetch(`${bridge.http}/api/payouts.csv?from=2001-01-01&to=2001-12-31`)).text())
      .toBe('id,user_id,user_name,amount,currency,status,reference,created_at\r\n');
    for (const query of ['', 'from=2026-01-01', 'from=2026-02-30&to=2026-03-01', 'from=2026-03-01&to=2026-02-01', 'from=26-01-01&to=2026-01-02', 'from=2026-01-01&to=2026-01-01T00:00Z']) {
      const response = await call('GET', `/api/payouts.csv?${query}`);
      expect({ query, status: response.status, code: response.json.error.code }).toEqual({ query, status: 400, code: 'INVALID_PERIOD' });
    }
  });
});

describe('with API_KEY and JWT_SECRET set', () => {
  const jwtSecret = 'a-test-secret-that-is-long-enough-for-hs256';
  const apiKey = 'test-api-key-0123456789';
  const guarded = useTestBridge(db, { JWT_SECRET: jwtSecret, API_KEY: apiKey });

  const tokenFor = (userId: number) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(String(userId))
    .setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));

  test('the operator\'s routes need the API key; a balance and payouts need the user\'s token; the settings are for everyone to read', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const operator = { authorization: `Bearer ${apiKey}` };
    for (const [method, path] of [['POST', '/api/payouts'], ['GET', '/api/payouts'], ['GET', '/api/payouts/1'], ['POST', '/api/payouts/1/paid'],
      ['GET', '/api/payouts.csv?from=2026-01-01&to=2026-01-02'], ['POST', '/api/settings']] as const) {
      const refused = await callBridge(guarded.http, method, path, method === 'POST' ? {} : undefined);
      expect({ method, path, status: refused.status, code: refused.json.error.code }).toEqual({ method, path, status: 401, code: 'UNAUTHENTICATED' });
    }
    expect((await callBridge(guarded.http, 'GET', '/api/settings')).status).toBe(200);
    expect((await callBridge(guarded.http, 'GET', '/api/payouts?limit=1', undefined, operator)).status).toBe(200);

    for (const path of [`/api/users/${referrer}/balance`, `/api/users/${referrer}/payouts`]) {
      expect((await callBridge(guarded.http, 'GET', path)).json.error.code).toBe('UNAUTHENTICATED');
      expect((await callBridge(guarded.http, 'GET', path, undefined, { authorization: `Bearer ${await tokenFor(referrer + 1)}` })).json.error.code).toBe('FORBIDDEN');
      expect((await callBridge(guarded.http, 'GET', path, undefined, { authorization: `Bearer ${await tokenFor(referrer)}` })).status).toBe(200);
    }
  });
});
