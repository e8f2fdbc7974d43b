// The HTTP API: purchases return the trigger's earnings, summaries and event
// pages read the ledger, and every bad request gets its status and code and
// changes nothing.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';
import { transportUnderTest } from './support/transport.js';
import { subscribedClient } from './support/ws-client.js';

const db = useTestDatabase();
let bridge: TestBridge;

beforeAll(async () => {
  await loadOriginalDemoUsers(db.sql);
  bridge = await startTestBridge(db.url);
});
afterAll(async () => {
  await bridge?.stop();
});

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  callBridge(bridge.http, method, path, body, headers);

async function ledgerSize() {
  const [row] = await db.sql<{ purchases: number; earnings: number; users: number }[]>`
    SELECT (SELECT count(*)::int FROM purchases) AS purchases, (SELECT count(*)::int FROM earnings) AS earnings,
           (SELECT count(*)::int FROM users) AS users`;
  return row;
}

describe('POST /api/purchase', () => {
  test('returns 201 with the purchase and the earnings the trigger created, and the referrers\' sockets get them', async () => {
    const level1 = await subscribedClient(bridge.ws, 2);
    const level2 = await subscribedClient(bridge.ws, 1);
    const response = await call('POST', '/api/purchase', { userId: 4, amount: 1000 });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({
      purchase: { id: expect.any(Number), userId: 4, amount: '1000.00', createdAt: expect.any(String), idempotencyKey: null },
      earnings: [
        { userId: 2, level: 1, rate: '0.05', amount: '50.00', seq: 1 },
        { userId: 1, level: 2, rate: '0.01', amount: '10.00', seq: 1 },
      ],
    });
    await level1.waitForEvents(1);
    await level2.waitForEvents(1);
    expect(level1.events()).toEqual([expect.objectContaining({ userId: 2, seq: 1, level: 1, amount: '50.00', purchaseId: response.json.purchase.id })]);
    expect(level2.events()).toEqual([expect.objectContaining({ userId: 1, seq: 1, level: 2, amount: '10.00' })]);
    await Promise.all([level1.close(), level2.close()]);
  });

  test('takes the amount as a decimal string, exactly', async () => {
    const response = await call('POST', '/api/purchase', { userId: 4, amount: '1999.99' });
    expect(response.status).toBe(201);
    expect(response.json.earnings.map((earning: { amount: string }) => earning.amount)).toEqual(['99.9995', '19.9999']);
  });

  test('a repeat with the same Idempotency-Key and body returns the original result with 200 and inserts nothing', async () => {
    const first = await call('POST', '/api/purchase', { userId: 3, amount: '25.50' }, { 'idempotency-key': 'order-7781' });
    expect(first.status).toBe(201);
    const before = await ledgerSize();
    const again = await call('POST', '/api/purchase', { userId: 3, amount: 25.5 }, { 'idempotency-key': 'order-7781' });
    expect(again.status).toBe(200);
    expect(again.json).toEqual(first.json);
    expect(await ledgerSize()).toEqual(before);
  });

  test('the same Idempotency-Key with a different body is 409 and inserts nothing', async () => {
    await call('POST', '/api/purchase', { userId: 3, amount: '10' }, { 'idempotency-key': 'order-9001' });
    const before = await ledgerSize();
    const conflict = await call('POST', '/api/purchase', { userId: 3, amount: '11' }, { 'idempotency-key': 'order-9001' });
    expect(conflict.status).toBe(409);
    expect(conflict.json.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await ledgerSize()).toEqual(before);
  });

  test('concurrent repeats of one Idempotency-Key create exactly one purchase', async () => {
    const responses = await Promise.all(Array.from({ length: 8 }, () =>
      call('POST', '/api/purchase', { userId: 5, amount: '7.00' }, { 'idempotency-key': 'burst-1' })));
    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    const [row] = await db.sql<{ count: number }[]>`SELECT count(*)::int FROM purchases WHERE idempotency_key = 'burst-1'`;
    expect(row!.count).toBe(1);
  });
});

describe('GET /api/earnings/:userId', () => {
  test('summarises every original demo user, listing every configured level', async () => {
    const summaries = await Promise.all([1, 2, 3, 4, 5].map((userId) => call('GET', `/api/earnings/${userId}`)));
    const totals = await db.sql<{ userId: number; level: number; total: string; count: number }[]>`
      SELECT user_id AS "userId", level, decimal_text(sum(amount)) AS total, count(*)::int AS count
      FROM earnings GROUP BY user_id, level`;
    const expected = (userId: number) => {
      const levels = [1, 2].map((level) => {
        const row = totals.find((total) => total.userId === userId && total.level === level);
        return { level, total: row?.total ?? '0.00', count: row?.count ?? 0 };
      });
      return levels;
    };
    expect(summaries.map((summary) => summary.status)).toEqual([200, 200, 200, 200, 200]);
    expect(summaries[1]!.json.levels).toEqual(expected(2));
    expect(summaries[0]!.json.levels).toEqual(expected(1));
    expect(summaries[2]!.json).toEqual({ userId: 3, total: '0.00', levels: [{ level: 1, total: '0.00', count: 0 }, { level: 2, total: '0.00', count: 0 }] });
    expect(summaries[4]!.json.userId).toBe(5);
    // user 2: level 1 of 1000, 1999.99, 25.50, 10 and 7.00 → 50 + 99.9995 + 1.275 + 0.5 + 0 (5 is referred by 1)
    expect(summaries[1]!.json.total).toBe('151.7745');
  });

  test('the summary of the original scenario reads 60.00 for a fresh user 2 with both levels', async () => {
    const [root] = await db.sql<{ id: number }[]>`INSERT INTO users (name) VALUES ('r') RETURNING id`;
    const [middle] = await db.sql<{ id: number }[]>`INSERT INTO users (referred_by) VALUES (${root!.id}) RETURNING id`;
    const [buyer] = await db.sql<{ id: number }[]>`INSERT INTO users (referred_by) VALUES (${middle!.id}) RETURNING id`;
    const [below] = await db.sql<{ id: number }[]>`INSERT INTO users (referred_by) VALUES (${buyer!.id}) RETURNING id`;
    await call('POST', '/api/purchase', { userId: buyer!.id, amount: 1000 });
    await call('POST', '/api/purchase', { userId: below!.id, amount: 1000 });
    expect((await call('GET', `/api/earnings/${middle!.id}`)).json).toEqual({
      userId: middle!.id, total: '60.00',
      levels: [{ level: 1, total: '50.00', count: 1 }, { level: 2, total: '10.00', count: 1 }],
    });
  });
});

describe('GET /api/earnings/:userId/events', () => {
  test('pages through the same events the WebSocket sends, in seq order', async () => {
    const all = await call('GET', '/api/earnings/2/events?after=0&limit=1000');
    expect(all.status).toBe(200);
    const seqs = all.json.events.map((event: { seq: number }) => event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const page = await call('GET', '/api/earnings/2/events?after=2&limit=2');
    expect(page.json).toEqual({ userId: 2, after: 2, events: all.json.events.slice(2, 4) });
    const [fromView] = await db.sql<{ event: unknown }[]>`SELECT event FROM earning_events WHERE user_id = 2 AND seq = 3`;
    expect(page.json.events[0]).toEqual(fromView!.event);
  });
});

describe('POST /api/users', () => {
  test('creates a user and returns 201 with it', async () => {
    const response = await call('POST', '/api/users', { name: 'Farah', phoneNumber: '+4915112345678', referredBy: 2 });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({ id: expect.any(Number), name: 'Farah', phoneNumber: '+4915112345678', referredBy: 2, createdAt: expect.any(String) });
  });
});

describe('bad requests get their status and code and change nothing', () => {
  const big = JSON.stringify({ userId: 4, amount: 1, padding: 'x'.repeat(17 * 1024) });
  test.each([
    ['malformed JSON', 'POST', '/api/purchase', '{"userId": 4,', 400, 'MALFORMED_JSON'],
    ['a body that is not an object', 'POST', '/api/purchase', '[1,2]', 422, 'INVALID_BODY'],
    ['a missing userId', 'POST', '/api/purchase', { amount: 10 }, 422, 'INVALID_USER_ID'],
    ['a userId as a string', 'POST', '/api/purchase', { userId: '4', amount: 10 }, 422, 'INVALID_USER_ID'],
    ['a missing amount', 'POST', '/api/purchase', { userId: 4 }, 422, 'INVALID_AMOUNT'],
    ['an amount of zero', 'POST', '/api/purchase', { userId: 4, amount: 0 }, 422, 'INVALID_AMOUNT'],
    ['a negative amount', 'POST', '/api/purchase', { userId: 4, amount: '-5' }, 422, 'INVALID_AMOUNT'],
    ['three decimals', 'POST', '/api/purchase', { userId: 4, amount: 1.005 }, 422, 'INVALID_AMOUNT'],
    ['a too large amount', 'POST', '/api/purchase', { userId: 4, amount: '1000000000000' }, 422, 'INVALID_AMOUNT'],
    ['NaN', 'POST', '/api/purchase', { userId: 4, amount: 'NaN' }, 422, 'INVALID_AMOUNT'],
    ['a word for an amount', 'POST', '/api/purchase', { userId: 4, amount: 'ten' }, 422, 'INVALID_AMOUNT'],
    ['an unknown buyer', 'POST', '/api/purchase', { userId: 999999, amount: 10 }, 404, 'USER_NOT_FOUND'],
    ['a body over 16 KiB', 'POST', '/api/purchase', big, 413, 'BODY_TOO_LARGE'],
    ['an unknown referrer', 'POST', '/api/users', { name: 'x', referredBy: 999999 }, 422, 'REFERRER_NOT_FOUND'],
    ['a phone number not in E.164', 'POST', '/api/users', { name: 'x', phoneNumber: '0151 1234' }, 422, 'INVALID_PHONE_NUMBER'],
    ['an unknown user\'s summary', 'GET', '/api/earnings/999999', undefined, 404, 'USER_NOT_FOUND'],
    ['a non-integer user id', 'GET', '/api/earnings/two', undefined, 400, 'INVALID_USER_ID'],
    ['an events limit over 1000', 'GET', '/api/earnings/2/events?limit=1001', undefined, 400, 'INVALID_LIMIT'],
    ['a negative after', 'GET', '/api/earnings/2/events?after=-1', undefined, 400, 'INVALID_AFTER'],
    ['an unknown route', 'GET', '/api/nothing-here', undefined, 404, 'NOT_FOUND'],
    ['a wrong method', 'DELETE', '/api/earnings/2', undefined, 405, 'METHOD_NOT_ALLOWED'],
  ])('%s', async (_, method, path, body, status, code) => {
    const before = await ledgerSize();
    const response = await call(method as string, path as string, body);
    expect({ status: response.status, code: response.json?.error?.code }).toEqual({ status, code });
    expect(typeof response.json.error.message).toBe('string');
    expect(response.text).not.toMatch(/INSERT|SELECT|constraint|at \w+ \(|postgres:\/\//);
    expect(await ledgerSize()).toEqual(before);
  });

  test('a body that is not JSON is 415', async () => {
    const response = await call('POST', '/api/purchase', undefined, { 'content-type': 'text/plain' });
    const withBody = await fetch(`${bridge.http}/api/purchase`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'userId=4&amount=10' });
    expect(response.status).toBe(415);
    expect(withBody.status).toBe(415);
    expect(((await withBody.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  test('an Idempotency-Key over 200 characters is 422', async () => {
    const response = await call('POST', '/api/purchase', { userId: 4, amount: 1 }, { 'idempotency-key': 'k'.repeat(201) });
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
    const before = await ledgerSize();
    const bodies: Array<[unknown, number, string?]> = [
      ...Array.from({ length: 12 }, (_, i): [unknown, number] => [{ userId: 4, amount: `${i + 1}.25` }, 201]),
      [{ userId: 4, amount: '1.005' }, 422, 'INVALID_AMOUNT'],
      [{ userId: 4, amount: '0' }, 422, 'INVALID_AMOUNT'],
      [{ userId: 999999, amount: '5' }, 404, 'USER_NOT_FOUND'],
      ...Array.from({ length: 5 }, (_, i): [unknown, number] => [{ userId: 3, amount: `${i + 1}` }, 201]),
    ];
    const responses = await Promise.all(bodies.map(([body]) => call('POST', '/api/purchase', body)));
    responses.forEach((response, index) => {
      const [body, status, code] = bodies[index]!;
      expect({ status: response.status, code: response.json.error?.code }, JSON.stringify(body)).toEqual({ status, code });
      if (status === 201) expect(response.json.purchase.amount).toBe(Number((body as { amount: string }).amount).toFixed(2));
    });
    const after = await ledgerSize();
    expect(after!.purchases - before!.purchases).toBe(17);
    expect(after!.earnings - before!.earnings).toBe(17 * 2);
  });
});
