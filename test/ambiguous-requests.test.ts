// Requests that could be read two ways, and the bridge must not pick one:
// an idempotency key in the body (where nothing reads it), two
// Idempotency-Key headers, a query parameter given twice, an amount with
// spaces around it. Each is refused with a clear error and changes nothing.
// Last, requests that are not HTTP/1.1, and what each transport does with them.

import { describe, expect, test } from 'vitest';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { rawExchange, rawRequest } from './support/raw-http.js';
import { createBuyerWithReferrer } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { transportUnderTest } from './support/transport.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

async function purchasesOf(buyer: number): Promise<number> {
  return onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM purchases WHERE user_id = ${buyer}`).count;
}

describe('POST /api/purchase names userId and amount only', () => {
  test('an idempotencyKey in the body is refused with 422 INVALID_BODY pointing at the header, and a repeat records nothing', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const body = { userId: buyer, amount: 7, idempotencyKey: 'order-77' };
    const answers = [await callBridge(bridge.http, 'POST', '/api/purchase', body), await callBridge(bridge.http, 'POST', '/api/purchase', body)];
    for (const answer of answers) {
      expect({ status: answer.status, code: answer.json.error.code }).toEqual({ status: 422, code: 'INVALID_BODY' });
      expect(answer.json.error.message).toBe('"idempotencyKey" is not a body field: send the key in the Idempotency-Key header (the body may hold userId and amount only)');
    }
    expect(await purchasesOf(buyer)).toBe(0);
  });

  test('any other unknown field is refused and names the fields the body may hold', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const answer = await callBridge(bridge.http, 'POST', '/api/purchase', { userId: buyer, amount: 7, currency: 'EUR' });
    expect({ status: answer.status, code: answer.json.error.code, message: answer.json.error.message })
      .toEqual({ status: 422, code: 'INVALID_BODY', message: 'unknown field "currency": the body may hold userId and amount only' });
    expect(await purchasesOf(buyer)).toBe(0);
  });
});

describe('POST /api/users names name, phoneNumber and referredBy only', () => {
  test('a misspelt referredBy is refused, rather than making a user nobody referred', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const users = async () => onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM users`).count;
    const before = await users();
    const answer = await callBridge(bridge.http, 'POST', '/api/users', { name: 'Dee', referedBy: referrer });
    expect({ status: answer.status, error: answer.json.error }).toEqual({ status: 422, error: {
      code: 'INVALID_BODY', message: 'unknown field "referedBy": the body may hold name, phoneNumber and referredBy only',
    } });
    expect(await users()).toBe(before);
    expect((await callBridge(bridge.http, 'POST', '/api/users', { name: 'Dee', referredBy: referrer })).status).toBe(201);
  });
});

describe('a header or query parameter given twice is refused, never read as its first value', () => {
  test('two Idempotency-Key headers are 400 REPEATED_HEADER and record nothing', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const body = JSON.stringify({ userId: buyer, amount: '3.00' });
    const answer = await rawRequest(bridge.http, [
      'POST /api/purchase HTTP/1.1', 'Host: test', 'Content-Type: application/json', `Content-Length: ${body.length}`,
      'Idempotency-Key: k2', 'Idempotency-Key: k3',
    ], body);
    expect({ status: answer.status, code: answer.json?.error?.code, message: answer.json?.error?.message })
      .toEqual({ status: 400, code: 'REPEATED_HEADER', message: 'the request has more than one Idempotency-Key header; send one' });
    expect(await purchasesOf(buyer)).toBe(0);
  });

  test('a query parameter given twice is 400 REPEATED_PARAMETER', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const answer = await callBridge(bridge.http, 'GET', `/api/earnings/${referrer}/events?after=0&after=5`);
    expect({ status: answer.status, code: answer.json.error.code, message: answer.json.error.message })
      .toEqual({ status: 400, code: 'REPEATED_PARAMETER', message: 'the query parameter after is given more than once; give it once' });
  });
});

describe('a query parameter the route does not read is refused, never ignored', () => {
  test('a misspelt through is 400 UNKNOWN_PARAMETER naming the parameters the route takes, not the total now', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const answer = await callBridge(bridge.http, 'GET', `/api/earnings/${referrer}?throug=3`);
    expect({ status: answer.status, error: answer.json.error }).toEqual({ status: 400, error: {
      code: 'UNKNOWN_PARAMETER', message: 'unknown query parameter "throug": GET /api/earnings/:userId takes through only' } });
  });

  test.each([
    ['/api/earnings/USER/events?after=0&limit=10&afetr=5', 'unknown query parameter "afetr": GET /api/earnings/:userId/events takes after and limit only'],
    ['/api/users/USER/balance?_=1700000000', 'unknown query parameter "_": GET /api/users/:userId/balance takes no query parameters'],
    ['/api/payouts.csv?from=2026-01-01&to=2026-01-31&satus=paid', 'unknown query parameter "satus": GET /api/payouts.csv takes from, to and status only'],
  ])('GET %s is refused, saying what the route takes', async (path, message) => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    const answer = await callBridge(bridge.http, 'GET', path.replace('USER', String(referrer)));
    expect({ status: answer.status, error: answer.json.error }).toEqual({ status: 400, error: { code: 'UNKNOWN_PARAMETER', message } });
  });

  test('a POST with a query parameter records nothing', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const answer = await callBridge(bridge.http, 'POST', '/api/purchase?amount=5', { userId: buyer, amount: 7 });
    expect({ status: answer.status, code: answer.json.error.code }).toEqual({ status: 400, code: 'UNKNOWN_PARAMETER' });
    expect(await purchasesOf(buyer)).toBe(0);
  });

  test('the parameters a route reads are still accepted', async () => {
    const { referrer } = await createBuyerWithReferrer(db.sql);
    expect((await callBridge(bridge.http, 'GET', `/api/earnings/${referrer}?through=0`)).status).toBe(200);
    expect((await callBridge(bridge.http, 'GET', `/api/earnings/${referrer}/events?after=0&limit=5`)).status).toBe(200);
  });
});

describe('amounts are read exactly as written: no spaces around them', () => {
  test.each([' 5 ', '5 ', '\t5', '5\n'])('a purchase amount of %j is 422 INVALID_AMOUNT and records nothing', async (amount) => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const answer = await callBridge(bridge.http, 'POST', '/api/purchase', { userId: buyer, amount });
    expect({ status: answer.status, code: answer.json.error.code }).toEqual({ status: 422, code: 'INVALID_AMOUNT' });
    expect(await purchasesOf(buyer)).toBe(0);
  });

  test('a refund amount or a settings amount with spaces is refused too, and changes nothing', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = (await callBridge(bridge.http, 'POST', '/api/purchase', { userId: buyer, amount: 10 })).json.purchase.id;
    const refund = await callBridge(bridge.http, 'POST', `/api/purchases/${purchaseId}/refunds`, { amount: ' 5 ' });
    expect({ status: refund.status, code: refund.json.error.code }).toEqual({ status: 422, code: 'INVALID_AMOUNT' });
    const before = (await callBridge(bridge.http, 'GET', '/api/settings')).json;
    const settings = await callBridge(bridge.http, 'POST', '/api/settings', { minimumPayout: ' 5 ' });
    expect({ status: settings.status, code: settings.json.error.code, message: settings.json.error.message })
      .toEqual({ status: 422, code: 'INVALID_SETTINGS', message: 'minimumPayout must be a decimal number (or a string of one) such as 50 or "50.00"' });
    expect((await callBridge(bridge.http, 'GET', '/api/settings')).json).toEqual(before);
    expect((await callBridge(bridge.http, 'GET', `/api/purchases/${purchaseId}`)).json.refunds).toEqual([]);
  });
});

describe('requests that are not HTTP/1.1: what each transport does (README, "Transports")', () => {
  const cases = {
    'HTTP/1.0 with Host': 'GET /health HTTP/1.0\r\nHost: test\r\n\r\n',
    'HTTP/1.0 without Host': 'GET /health HTTP/1.0\r\n\r\n',
    'HTTP/1.1 without Host': 'GET /health HTTP/1.1\r\n\r\n',
    'not HTTP at all': 'GARBAGE\r\n\r\n',
    'Content-Length with Transfer-Encoding: chunked': 'POST /api/purchase HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n'
      + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'headers that never end': 'GET /health HTTP/1.1\r\nHost: test\r\n',
  };
  const malformed = { code: 'MALFORMED_REQUEST', closed: true };

  test('each gets the answer its transport gives, and none records anything', { timeout: 30_000 }, async () => {
    const before = onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM purchases`).count;
    // All at once: on uws, the ones it leaves hanging close together, at its idle timeout.
    const answers = await Promise.all(Object.values(cases).map((bytes) => rawExchange(bridge.http, bytes, 20_000)));
    const seen = Object.fromEntries(Object.keys(cases).map((name, index) => {
      const { received, closedAfterMs } = answers[index]!;
      const body = received.slice(received.indexOf('\r\n\r\n') + 4);
      return [name, {
        status: Number(received.split(' ')[1]) || undefined,
        code: body.startsWith('{') ? JSON.parse(body).error?.code ?? JSON.parse(body).status : undefined,
        closed: closedAfterMs !== undefined,
        ...(transportUnderTest === 'uws' && received === '' ? { heldOpen: (closedAfterMs ?? 0) > 1000 } : {}),
      }];
    }));
    if (transportUnderTest === 'node') {
      expect(seen).toEqual({
        // node:http serves HTTP/1.0 (nginx's proxy_pass default), and closes the connection after the answer.
        'HTTP/1.0 with Host': { status: 200, code: 'ok', closed: true },
        'HTTP/1.0 without Host': { status: 200, code: 'ok', closed: true },
        'HTTP/1.1 without Host': { status: 400, ...malformed },
        'not HTTP at all': { status: 400, ...malformed },
        'Content-Length with Transfer-Encoding: chunked': { status: 400, ...malformed },
        // headersTimeout (10 s): 408, not a malformed request.
        'headers that never end': { status: 408, code: 'REQUEST_TIMEOUT', closed: true },
      });
    } else {
      // uWebSockets.js's parser takes only HTTP/1.1 with a Host header, and
      // never hands anything else to the bridge: it waits for more bytes
      // until its own HTTP idle timeout (about 10 s) and closes without a
      // word; ambiguous framing it drops at once. Nothing the bridge can answer.
      const unanswered = { status: undefined, code: undefined, closed: true, heldOpen: true };
      expect(seen).toEqual({
        'HTTP/1.0 with Host': unanswered,
        'HTTP/1.0 without Host': unanswered,
        'HTTP/1.1 without Host': unanswered,
        'not HTTP at all': unanswered,
        'Content-Length with Transfer-Encoding: chunked': { status: undefined, code: undefined, closed: true, heldOpen: false },
        'headers that never end': unanswered,
      });
    }
    expect(onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM purchases`).count).toBe(before);
  });
});
