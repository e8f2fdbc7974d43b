// The dashboard's endpoints: a user's downline and earnings per day (with
// that user's token when JWT_SECRET is set), and the operator's program
// totals, top referrers and outbox depth (with the API key when API_KEY is
// set). Every amount is the database's, as exact decimal text; every
// refusal is a JSON error with a stable code.

import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { useDatabasePerTest } from './support/database.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';
import { callBridge } from './support/http.js';
import { setSettings } from './support/payouts.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const jwtSecret = 'a-test-secret-that-is-long-enough-for-hs256';
const apiKey = 'test-api-key-0123456789';

// Program totals cover every row, so each test has a database of its own,
// with the original demo tree: 1 ← 2 ← {3, 4}, 1 ← 5.
const db = useDatabasePerTest();
const started: TestBridge[] = [];
beforeEach(async () => {
  await loadOriginalDemoUsers(db.sql);
  await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((bridge) => bridge.stop()));
});

async function bridgeWith(env: Record<string, string> = {}) {
  const bridge = await startTestBridge(db.url, env);
  started.push(bridge);
  return (path: string, headers: Record<string, string> = {}) => callBridge(bridge.http, 'GET', path, undefined, headers);
}

const tokenFor = async (userId: number) => ({
  authorization: `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(String(userId)).setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret))}`,
});

async function purchase(userId: number, amount: string): Promise<string> {
  return onlyRow(await db.sql<{ id: string }[]>`INSERT INTO purchases (user_id, amount) VALUES (${userId}, ${amount}) RETURNING id::text`).id;
}

describe('GET /api/users/:userId/referrals', () => {
  test('lists level 1 and level 2 with what each generated for the user, net of reversals', async () => {
    const get = await bridgeWith();
    await db.sql`UPDATE users SET name = 'Chen' WHERE id = 3`;
    const refunded = await purchase(4, '1000');
    await purchase(3, '200');
    await db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${refunded}, 250)`;

    const response = await get('/api/users/1/referrals');
    expect(response.status).toBe(200);
    const joinedAt = expect.stringMatching(/Z$/);
    expect(response.json).toEqual({
      userId: 1,
      currency: 'INR',
      referrals: [
        { userId: 2, name: null, level: 1, referredBy: 1, joinedAt, generated: '0.00', credits: 0, reversals: 0 },
        { userId: 5, name: null, level: 1, referredBy: 1, joinedAt, generated: '0.00', credits: 0, reversals: 0 },
        { userId: 3, name: 'Chen', level: 2, referredBy: 2, joinedAt, generated: '2.00', credits: 1, reversals: 0 },
        { userId: 4, name: null, level: 2, referredBy: 2, joinedAt, generated: '7.50', credits: 1, reversals: 1 },
      ],
    });
    expect((await get('/api/users/2/referrals')).json.referrals.map((r: { userId: number; generated: string }) => [r.userId, r.generated]))
      .toEqual([[3, '10.00'], [4, '37.50']]);
    expect((await get('/api/users/3/referrals')).json).toEqual({ userId: 3, currency: 'INR', referrals: [] });
    expect((await get('/api/users/1/referrals?limit=2')).json.referrals.map((r: { userId: number }) => r.userId)).toEqual([2, 5]);
  });

  test('bad input is 400 with a JSON error, an unknown user 404', async () => {
    const get = await bridgeWith();
    for (const [path, status, code] of [
      ['/api/users/x/referrals', 400, 'INVALID_USER_ID'],
      ['/api/users/0/referrals', 400, 'INVALID_USER_ID'],
      ['/api/users/1/referrals?limit=0', 400, 'INVALID_LIMIT'],
      ['/api/users/1/referrals?limit=1001', 400, 'INVALID_LIMIT'],
      ['/api/users/999999/referrals', 404, 'USER_NOT_FOUND'],
    ] as const) {
      const response = await get(path);
      expect({ path, status: response.status, code: response.json.error.code, message: typeof response.json.error.message })
        .toEqual({ path, status, code, message: 'string' });
    }
  });
});

describe('GET /api/users/:userId/earnings/daily', () => {
  test('one entry per UTC day, today last, zeros included: credits, reversals and net', async () => {
    const refunded = await purchase(4, '1000');
    await purchase(4, '1999.99');
    await db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${refunded}, 100)`;
    // The ledger's clock two days on: the earnings above fall on the first of three days.
    const { today, first } = onlyRow(await db.sql<{ today: string; first: string }[]>`
      SELECT ((now() + interval '2 days') AT TIME ZONE 'UTC')::date::text AS today, (now() AT TIME ZONE 'UTC')::date::text AS first`);
    await db.sql.unsafe(`ALTER DATABASE ${new URL(db.url).pathname.slice(1)} SET referrals.now = '${new Date(Date.now() + 2 * 86_400_000).toISOString()}'`);
    const get = await bridgeWith();

    const response = await get('/api/users/2/earnings/daily?days=3');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      userId: 2, currency: 'INR', days: 3, from: first, to: today,
      daily: [
        { date: first, credits: '149.9995', reversals: '-5.00', net: '144.9995', events: 3 },
        { date: expect.any(String), credits: '0.00', reversals: '0.00', net: '0.00', events: 0 },
        { date: today, credits: '0.00', reversals: '0.00', net: '0.00', events: 0 },
      ],
    });
    const month = await get('/api/users/2/earnings/daily');
    expect(month.json.days).toBe(30);
    expect(month.json.daily).toHaveLength(30);
    expect(month.json.daily.at(-1).date).toBe(today);
  });

  test('the days are UTC days whatever the database\'s time zone, through a night whose local midnight does not exist', async () => {
    // Chile moved its clocks from midnight to 01:00 on 6 September 2026.
    const database = new URL(db.url).pathname.slice(1);
    await db.sql.unsafe(`ALTER DATABASE ${database} SET timezone = 'America/Santiago'`);
    await db.sql.unsafe(`ALTER DATABASE ${database} SET referrals.now = '2026-09-10T12:00:00Z'`);
    const get = await bridgeWith();
    const response = await get('/api/users/2/earnings/daily?days=7');
    expect(response.json.daily.map((day: { date: string }) => day.date))
      .toEqual(['2026-09-04', '2026-09-05', '2026-09-06', '2026-09-07', '2026-09-08', '2026-09-09', '2026-09-10']);
  });

  test('days must be a whole number from 1 to 366: else 400 INVALID_DAYS', async () => {
    const get = await bridgeWith();
    for (const days of ['0', '367', 'abc', '1.5', '-1']) {
      const response = await get(`/api/users/2/earnings/daily?days=${days}`);
      expect({ days, status: response.status, error: response.json.error })
        .toEqual({ days, status: 400, error: { code: 'INVALID_DAYS', message: 'days must be a whole number from 1 to 366' } });
    }
    expect((await get('/api/users/2/earnings/daily?days=366')).json.daily).toHaveLength(366);
    expect((await get('/api/users/x/earnings/daily')).status).toBe(400);
    expect((await get('/api/users/999999/earnings/daily')).json.error.code).toBe('USER_NOT_FOUND');
  });
});

describe('the operator\'s program endpoints', () => {
  test('GET /api/program/totals: totals since the start and what the last hour added', async () => {
    const get = await bridgeWith();
    const refunded = await purchase(4, '1000');
    await purchase(3, '1999.99');
    await db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${refunded}, 1000)`;
    await db.sql`SELECT create_payouts()`;
    await db.sql`SELECT mark_payout_paid(id, 'UTR-1') FROM payouts WHERE user_id = 2`;

    const response = await get('/api/program/totals');
    expect(response.status).toBe(200);
    const totals = {
      purchases: { total: '2999.99', count: 2, lastHour: '2999.99', lastHourCount: 2 },
      earnings: { total: '179.9994', count: 4, lastHour: '179.9994', lastHourCount: 4 },
      reversals: { total: '-60.00', count: 2, lastHour: '-60.00', lastHourCount: 2 },
      paid: { total: '99.99', count: 1, lastHour: '99.99', lastHourCount: 1 },
      owed: { total: '20.0094', lastHour: '20.0094' },
    };
    expect(response.json).toEqual({ currency: 'INR', asOf: expect.stringMatching(/Z$/), ...totals });
  });

  test('GET /api/program/totals read by many at once reads the tables once for all of them, and afresh afterwards', async () => {
    const get = await bridgeWith();
    await purchase(4, '1000');
    const totalsReads = async () => onlyRow(await db.sql<{ count: number }[]>`
      SELECT count(*)::int AS count FROM pg_stat_activity
      WHERE datname = current_database() AND query LIKE '%ledger_now() - interval ''1 hour''%' AND pid <> pg_backend_pid()`).count;
    // Holding the payouts table keeps the first read waiting while ten more requests arrive.
    const holder = await db.sql.reserve();
    try {
      await holder`BEGIN`;
      await holder`LOCK TABLE payouts IN ACCESS EXCLUSIVE MODE`;
      const answers = Promise.all(Array.from({ length: 10 }, () => get('/api/program/totals')));
      await waitFor('the totals read to wait for the lock', async () => (await totalsReads()) > 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await totalsReads()).toBe(1);
      await holder`COMMIT`;
      const responses = await answers;
      expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
      expect(new Set(responses.map((response) => JSON.stringify(response.json))).size).toBe(1);
      expect(responses[0]!.json.purchases).toMatchObject({ total: '1000.00', count: 1 });
    } finally {
      holder.release();
    }
    await purchase(3, '10');
    expect((await get('/api/program/totals')).json.purchases).toMatchObject({ total: '1010.00', count: 2 });
  });

  test('GET /api/program/top-referrers: this month\'s earners, most first, at most limit', async () => {
    const get = await bridgeWith();
    await purchase(4, '1000');
    await purchase(2, '100');
    const response = await get('/api/program/top-referrers');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      currency: 'INR', from: expect.stringMatching(/-01T00:00:00(\.000)?Z$/), asOf: expect.stringMatching(/Z$/),
      referrers: [
        { userId: 2, name: null, earned: '50.00', credits: 1, reversals: 0 },
        { userId: 1, name: null, earned: '15.00', credits: 2, reversals: 0 },
      ],
    });
    expect((await get('/api/program/top-referrers?limit=1')).json.referrers).toHaveLength(1);
    expect((await get('/api/program/top-referrers?limit=101')).json.error.code).toBe('INVALID_LIMIT');
  });

  test('GET /api/whatsapp/outbox: the outbox\'s depth by status', async () => {
    const get = await bridgeWith();
    await db.sql`UPDATE users SET phone_number = '+4915112345678' WHERE id IN (1, 2)`;
    await purchase(4, '1000');
    await purchase(3, '10');
    expect((await get('/api/whatsapp/outbox')).json).toEqual({ depth: [{ status: 'queued', count: 4 }] });
  });
});

describe('with JWT_SECRET and API_KEY set', () => {
  test('a user\'s referrals and daily earnings need a token for that user; the program\'s figures need the API key', async () => {
    const get = await bridgeWith({ JWT_SECRET: jwtSecret, API_KEY: apiKey });
    for (const path of ['/api/users/2/referrals', '/api/users/2/earnings/daily?days=7']) {
      expect((await get(path)).json.error.code).toBe('UNAUTHENTICATED');
      expect((await get(path, { authorization: 'Bearer not-a-jwt' })).json.error.code).toBe('INVALID_TOKEN');
      const forbidden = await get(path, await tokenFor(3));
      expect({ status: forbidden.status, error: forbidden.json.error })
        .toEqual({ status: 403, error: { code: 'FORBIDDEN', message: 'this token is for user 3, not user 2' } });
      expect((await get(path, await tokenFor(2))).status).toBe(200);
      expect((await get(path, { authorization: `Bearer ${apiKey}` })).status).toBe(401);
    }
    for (const path of ['/api/program/totals', '/api/program/top-referrers', '/api/whatsapp/outbox']) {
      const refused = await get(path, await tokenFor(2));
      expect({ path, status: refused.status, code: refused.json.error.code }).toEqual({ path, status: 401, code: 'UNAUTHENTICATED' });
      expect((await get(path, { authorization: `Bearer ${apiKey}` })).status).toBe(200);
    }
  });
});
