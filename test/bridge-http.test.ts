// The HTTP API: purchases return the trigger's earnings, summaries and event
// pages read the ledger, and every bad request gets its status and code and
// changes nothing.

import { describe, expect, test } from 'vitest';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { createBuyerWithTwoReferrers, createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { transportUnderTest } from './support/transport.js';
import { subscribedClient } from './support/ws-client.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  callBridge(bridge.http, method, path, body, headers);

/** The ledger's size: equal before and after a request means it wrote nothing. */
async function ledgerSize() {
  return onlyRow(await db.sql<{ purchases: number; earnings: number; users: number }[]>`
    SELECT (SELECT count(*)::int FROM purchases) AS purchases, (SELECT count(*)::int FROM earnings) AS earnings,
           (SELECT count(*)::int FROM users) AS users`);
}

describe('POST /api/purchase', () => {
  test('returns 201 with the purchase and the earnings the trigger created, and the referrers\' sockets get them', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const level1 = await subscribedClient(bridge.ws, referrer);
    const level2 = await subscribedClient(bridge.ws, root);
    const response = await call('POST', '/api/purchase', { userId: buyer, amount: 1000 });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({
      purchase: { id: expect.any(Number), userId: buyer, amount: '1000.00', createdAt: expect.any(String), idempotencyKey: null },
      earnings: [
        { userId: referrer, level: 1, rate: '0.05', amount: '50.00', seq: 1 },
        { userId: root, level: 2, rate: '0.01', amount: '10.00', seq: 1 },
      ],
    });
    await level1.waitForEvents(1);
    await level2.waitForEvents(1);
    expect(level1.events()).toEqual([expect.objectContaining({ userId: referrer, seq: 1, level: 1, amount: '50.00', purchaseId: response.json.purchase.id })]);
    expect(level2.events()).toEqual([expect.objectContaining({ userId: root, seq: 1, level: 2, amount: '10.00' })]);
    await Promise.all([level1.close(), level2.close()]);
  });

  test('takes the amount as a decimal string, exactly', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const response = await call('POST', '/api/purchase', { userId: buyer, amount: '1999.99' });
    expect(response.status).toBe(201);
    expect(response.json.earnings.map((earning: { amount: string }) => earning.amount)).toEqual(['99.9995', '19.9999']);
  });

  test('a repeat with the same Idempotency-Key and body returns the original result with 200 and inserts nothing', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const first = await call('POST', '/api/purchase', { userId: buyer, amount: '25.50' }, { 'idempotency-key': 'order-7781' });
    expect(first.status).toBe(201);
    const before = await ledgerSize();
    const again = await call('POST', '/api/purchase', { userId: buyer, amount: 25.5 }, { 'idempotency-key': 'order-7781' });
    expect(again.status).toBe(200);
    expect(again.json).toEqual(first.json);
    expect(await ledgerSize()).toEqual(before);
  });

  test('the same Idempotency-Key with a different body is 409 and inserts nothing', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    await call('POST', '/api/purchase', { userId: buyer, amount: '10' }, { 'idempotency-key': 'order-9001' });
    const before = await ledgerSize();
    const conflict = await call('POST', '/api/purchase', { userId: buyer, amount: '11' }, { 'idempotency-key': 'order-9001' });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await ledgerSize()).toEqual(before);
  });

  test('concurrent repeats of one Idempotency-Key create exactly one purchase', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const responses = await Promise.all(Array.from({ length: 8 }, () =>
      call('POST', '/api/purchase', { userId: buyer, amount: '7.00' }, { 'idempotency-key': 'burst-1' })));
    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    const { count } = onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int FROM purchases WHERE idempotency_key = 'burst-1'`);
    expect(count).toBe(1);
  });
});

describe('GET /api/earnings/:userId', () => {
  test('summarises a user\'s earnings with a total and every configured level, levels with nothing included', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    for (const [userId, amount] of [[buyer, '1000'], [buyer, '1999.99'], [referrer, '25.50']] as const) {
      expect((await call('POST', '/api/purchase', { userId, amount })).status).toBe(201);
    }
    const [rootSummary, referrerSummary, buyerSummary] = await Promise.all([root, referrer, buyer].map((userId) => call('GET', `/api/earnings/${userId}`)));
    // root: level 1 of 25.50 (1.275), level 2 of 1000 and 1999.99 (10 + 19.9999).
    expect(rootSummary).toMatchObject({ status: 200, json: {
      userId: root, total: '31.2749', levels: [{ level: 1, total: '1.275', count: 1 }, { level: 2, total: '29.9999', count: 2 }],
    } });
    // referrer: level 1 of 1000 and 1999.99 (50 + 99.9995), nothing at level 2.
    expect(referrerSummary).toMatchObject({ status: 200, json: {
      userId: referrer, total: '149.9995', levels: [{ level: 1, total: '149.9995', count: 2 }, { level: 2, total: '0.00', count: 0 }],
    } });
    expect(buyerSummary).toMatchObject({ status: 200, json: {
      userId: buyer, total: '0.00', levels: [{ level: 1, total: '0.00', count: 0 }, { level: 2, total: '0.00', count: 0 }],
    } });
  });

  test('the summary of the original scenario reads 60.00 for a fresh user 2 with both levels', async () => {
    const { referrer: middle, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const below = await createUser(db.sql, buyer);
    await call('POST', '/api/purchase', { userId: buyer, amount: 1000 });
    await call('POST', '/api/purchase', { userId: below, amount: 1000 });
    expect((await call('GET', `/api/earnings/${middle}`)).json).toEqual({
      userId: middle, total: '60.00',
      levels: [{ level: 1, total: '50.00', count: 1, reversals: 0 }, { level: 2, total: '10.00', count: 1, reversals: 0 }],
    });
  });
});

describe('GET /api/earnings/:userId/events', () => {
  test('pages through the same events the WebSocket sends, in seq order', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, 10 FROM generate_series(1, 5)`;
    const all = await call('GET', `/api/earnings/${referrer}/events?after=0&limit=1000`);
    expect(all.status).toBe(200);
    expect(all.json.events.map((event: { seq: number }) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    const page = await call('GET', `/api/earnings/${referrer}/events?after=2&limit=2`);
    expect(page.json).toEqual({ userId: referrer, after: 2, events: all.json.events.slice(2, 4) });
    const fromView = onlyRow(await db.sql<{ event: unknown }[]>`SELECT event FROM earning_events WHERE user_id = ${referrer} AND seq = 3`);
    expect(page.json.events[0]).toEqual(fromView.event);
  });
});

describe('POST /api/users', () => {
  test('creates a user and returns 201 with it', async () => {
    const referrer = await createUser(db.sql);
    const response = await call('POST', '/api/users', { name: 'Farah', phoneNumber: '+4915112345678', referredBy: referrer });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({ id: expect.any(Number), name: 'Farah', phoneNumber: '+4915112345678', referredBy: referrer, createdAt: expect.any(String) });
  });
});

describe('bad requests get their status and code and change nothing', () => {
  // Each request is made for a buyer (with two referrers) the test creates, so
  // that what is wrong with it is only what its name says.
  type Request = (buyer: number) => [method: string, path: string, body?: unknown];
  test.each<[string, Request, number, string]>([
    ['malformed JSON', (buyer) => ['POST', '/api/purchase', `{"userId": ${buyer},`], 400, 'MALFORMED_JSON'],
    ['a body that is not an object', () => ['POST', '/api/purchase', '[1,2]'], 422, 'INVALID_BODY'],
    ['a missing userId', () => ['POST', '/api/purchase', { amount: 10 }], 422, 'INVALID_USER_ID'],
    ['a userId as a string', (buyer) => ['POST', '/api/purchase', { userId: String(buyer), amount: 10 }], 422, 'INVALID_USER_ID'],
    ['a missing amount', (buyer) => ['POST', '/api/purchase', { userId: buyer }], 422, 'INVALID_AMOUNT'],
    ['an amount of zero', (buyer) => ['POST', '/api/purchase', { userId: buyer, amount: 0 }], 422, 'INVALID_AMOUNT'],
    ['a negative amount', (buyer) => ['POST', '/api/purchase', { userId: buyer, amount: '-5' }], 422, 'INVALID_AMOUNT'],
    ['three decimals', (buyer) => ['POST', '/api/purchase', { userId: buyer, amount: 1.005 }], 422, 'INVALID_AMOUNT'],
    ['a too large amount', (buyer) => ['POST', '/api/purchase', { userId: buyer, amount: '1000000000000' }], 422, 'INVALID_AMOUNT'],
    ['NaN', (buyer) => ['POST', '/api/purchase', { userId: buyer, amount: 'NaN' }], 422, 'INVALID_AMOUNT'],
    ['a word for an amount', (buyer) => ['POST', '/api/purchase', { userId: buyer, amount: 'ten' }], 422, 'INVALID_AMOUNT'],
    ['an unknown buyer', () => ['POST', '/api/purchase', { userId: 999999, amount: 10 }], 404, 'USER_NOT_FOUND'],
    ['a body over 16 KiB', (buyer) => ['POST', '/api/purchase', JSON.stringify({ userId: buyer, amount: 1, padding: 'x'.repeat(17 * 1024) })], 413, 'BODY_TOO_LARGE'],
    ['an unknown referrer', () => ['POST', '/api/users', { name: 'x', referredBy: 999999 }], 422, 'REFERRER_NOT_FOUND'],
    ['a phone number not in E.164', () => ['POST', '/api/users', { name: 'x', phoneNumber: '0151 1234' }], 422, 'INVALID_PHONE_NUMBER'],
    ['an unknown user\'s summary', () => ['GET', '/api/earnings/999999'], 404, 'USER_NOT_FOUND'],
    ['a non-integer user id', () => ['GET', '/api/earnings/two'], 400, 'INVALID_USER_ID'],
    ['an events limit over 1000', (buyer) => ['GET', `/api/earnings/${buyer}/events?limit=1001`], 400, 'INVALID_LIMIT'],
    ['a negative after', (buyer) => ['GET', `/api/earnings/${buyer}/events?after=-1`], 400, 'INVALID_AFTER'],
    ['an unknown route', () => ['GET', '/api/nothing-here'], 404, 'NOT_FOUND'],
    ['a wrong method', (buyer) => ['DELETE', `/api/earnings/${buyer}`], 405, 'METHOD_NOT_ALLOWED'],
  ])('%s', async (_, request, status, code) => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const [method, path, body] = request(buyer);
    const before = await ledgerSize();
    const response = await call(method, path, body);
    expect({ status: response.status, code: response.json?.error?.code }).toEqual({ status, code });
    expect(typeof response.json.error.message).toBe('string');
    expect(response.text).not.toMatch(/INSERT|SELECT|constraint|at \w+ \(|postgres:\/\//);
    expect(await ledgerSize()).toEqual(before);
  });

  test('a body that is not JSON is 415', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const response = await call('POST', '/api/purchase', undefined, { 'content-type': 'text/plain' });
    const withBody = await fetch(`${bridge.http}/api/purchase`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `userId=${buyer}&amount=10` });
    expect(response.status).toBe(415);
    expect(withBody.status).toBe(415);
    expect(((await withBody.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  test('an Idempotency-Key over 200 characters is 422', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const response = await call('POST', '/api/purchase', { userId: buyer, amount: 1 }, { 'idempotency-key': 'k'.repeat(201) });
    expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 422, code: 'INVALID_IDEMPOTENCY_KEY' });
  });
});

describe('health and metrics', () => {
  test('GET /health reports the database, the listener and the transport', async () => {
    const response = await call('GET', '/health');
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ status: 'ok', db: 'up', listener: 'up', transport: transportUnderTest });
  });

  test('GET /metrics serves Prometheus text with requests, sockets, deliveries, reconnects and latency', async () => {
    // A purchase over HTTP whose earning is delivered live, so that every series has a sample.
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const client = await subscribedClient(bridge.ws, referrer);
    expect((await call('POST', '/api/purchase', { userId: buyer, amount: 10 })).status).toBe(201);
    await client.waitForEvents(1);
    await client.close();
    const response = await call('GET', '/metrics');
    expect(response.status).toBe(200);
    for (const name of ['http_requests_total{route="/api/purchase",method="POST",status="201"}', 'websocket_open_sockets',
      'earning_events_delivered_total{path="live"}', 'earnings_listener_reconnects_total', 'earning_commit_to_send_seconds_bucket']) {
      expect(response.text).toContain(name);
    }
  });
});

describe('concurrent purchases, grouped into shared transactions', () => {
  test('each request gets its own answer, whatever else arrived with it', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const otherBuyer = await createUser(db.sql, referrer);
    const before = await ledgerSize();
    const bodies: Array<[unknown, number, string?]> = [
      ...Array.from({ length: 12 }, (_, i): [unknown, number] => [{ userId: buyer, amount: `${i + 1}.25` }, 201]),
      [{ userId: buyer, amount: '1.005' }, 422, 'INVALID_AMOUNT'],
      [{ userId: buyer, amount: '0' }, 422, 'INVALID_AMOUNT'],
      [{ userId: 999999, amount: '5' }, 404, 'USER_NOT_FOUND'],
      ...Array.from({ length: 5 }, (_, i): [unknown, number] => [{ userId: otherBuyer, amount: `${i + 1}` }, 201]),
    ];
    const answers = await Promise.all(bodies.map(async ([body, status, code]) => ({ body, status, code, response: await call('POST', '/api/purchase', body) })));
    for (const { body, status, code, response } of answers) {
      expect({ status: response.status, code: response.json.error?.code }, JSON.stringify(body)).toEqual({ status, code });
      if (status === 201) expect(response.json.purchase.amount).toBe(Number((body as { amount: string }).amount).toFixed(2));
    }
    const after = await ledgerSize();
    expect(after.purchases - before.purchases).toBe(17);
    expect(after.earnings - before.earnings).toBe(17 * 2);
  });
});
