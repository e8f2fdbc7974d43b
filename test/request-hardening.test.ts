// Requests an attacker or a careless client sends: idempotency keys that are
// not visible ASCII, amounts with more digits than a double holds, content
// types that merely start with application/json, two Content-Length headers,
// oversized WebSocket messages, tokens whose sub is a number or that are not
// valid yet, and a /metrics that must not be public. Each is refused clearly
// and changes nothing.

import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestBridge, useTestBridge, type TestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { rawRequest } from './support/raw-http.js';
import { createBuyerWithReferrer } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { transportUnderTest } from './support/transport.js';
import { connectClient } from './support/ws-client.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

/** A buyer (with a referrer) for the test to make purchases as. */
const createBuyer = async () => (await createBuyerWithReferrer(db.sql)).buyer;

async function purchaseCount(): Promise<number> {
  return onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM purchases`).count;
}

/** POST /api/purchase by `buyer` with the Idempotency-Key header's bytes exactly as given (UTF-8 for strings). */
function purchaseWithKey(buyer: number, key: string | Buffer, amount = '10.00') {
  const body = JSON.stringify({ userId: buyer, amount });
  return rawRequest(bridge.http, [
    'POST /api/purchase HTTP/1.1', 'Host: test', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`,
    Buffer.concat([Buffer.from('Idempotency-Key: '), typeof key === 'string' ? Buffer.from(key, 'utf8') : key]),
  ], body);
}

describe('Idempotency-Key: 1 to 200 visible ASCII characters, or 422', () => {
  test.each([
    ['é', 'é'],
    ['ключ', 'ключ'],
    ['🔑', '🔑'],
    ['a non-ASCII character inside', 'ORDER-é-7'],
    ['a space inside', 'ORDER 7'],
    ['only spaces', '   '],
    ['a latin-1 byte inside', Buffer.from([0x4f, 0xe9, 0x58])],
    ['201 characters', 'k'.repeat(201)],
  ])('%s is refused with 422 INVALID_IDEMPOTENCY_KEY and writes nothing', async (_, key) => {
    const buyer = await createBuyer();
    const before = await purchaseCount();
    const answer = await purchaseWithKey(buyer, key);
    expect({ status: answer.status, code: answer.json?.error?.code }).toEqual({ status: 422, code: 'INVALID_IDEMPOTENCY_KEY' });
    expect(await purchaseCount()).toBe(before);
  });

  test('keys differing in non-ASCII characters at either end never become one key', async () => {
    const buyer = await createBuyer();
    const plain = await purchaseWithKey(buyer, 'EDGE-');
    expect(plain.status).toBe(201);
    const before = await purchaseCount();
    const answers = await Promise.all(['EDGE-🔑', '🔑EDGE-', 'EDGE-é'].map((key) => purchaseWithKey(buyer, key)));
    if (transportUnderTest === 'node') {
      expect(answers.map((answer) => [answer.status, answer.json?.error?.code]))
        .toEqual(Array(3).fill([422, 'INVALID_IDEMPOTENCY_KEY']));
    } else {
      // uWebSockets.js's own parser drops bytes above 0x7F at either end of a
      // header value before any code of ours sees it (README, "Transports"):
      // these arrive as "EDGE-", so at worst they replay that purchase's
      // receipt, and only for the very same body (another body gets 409).
      expect(answers.map((answer) => [answer.status, answer.json?.purchase?.idempotencyKey])).toEqual(Array(3).fill([200, 'EDGE-']));
      const otherBody = await purchaseWithKey(buyer, 'EDGE-🔑', '11.00');
      expect([otherBody.status, otherBody.json?.error?.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
    }
    expect(await purchaseCount()).toBe(before);
  });

  test('200 visible ASCII characters, punctuation included, are a key: a repeat replays the purchase', async () => {
    const buyer = await createBuyer();
    const key = `${'k'.repeat(180)}!#$%&'*+-.^_\`|~:/`;
    const first = await purchaseWithKey(buyer, key);
    const again = await purchaseWithKey(buyer, key);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.json.purchase).toEqual(first.json.purchase);
    expect(first.json.purchase.idempotencyKey).toBe(key);
  });
});

describe('amounts are read from the JSON text exactly', () => {
  test('a JSON number beyond double precision is refused as more than 2 decimals, not rounded', async () => {
    const buyer = await createBuyer();
    const before = await purchaseCount();
    const response = await callBridge(bridge.http, 'POST', '/api/purchase', `{"userId": ${buyer}, "amount": 1.0000000000000001}`);
    expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 422, code: 'INVALID_AMOUNT' });
    expect(response.json.error.message).toMatch(/at most 2 decimals/);
    expect(await purchaseCount()).toBe(before);
  });

  test('a JSON number is recorded with the digits it was written with', async () => {
    const buyer = await createBuyer();
    const response = await callBridge(bridge.http, 'POST', '/api/purchase', `{"userId": ${buyer}, "amount": 12345678901.99}`);
    expect(response.status).toBe(201);
    expect(response.json.purchase.amount).toBe('12345678901.99');
    expect(response.json.earnings[0].amount).toBe('617283945.0995');
  });

  test('a userId written with a fraction part (.0) or as a string is refused', async () => {
    const buyer = await createBuyer();
    for (const body of [`{"userId": ${buyer}.0, "amount": 1}`, `{"userId": "${buyer}", "amount": 1}`]) {
      const response = await callBridge(bridge.http, 'POST', '/api/purchase', body);
      expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 422, code: 'INVALID_USER_ID' });
    }
  });
});

describe('the body must be application/json, exactly', () => {
  test.each(['application/jsonx', 'application/json-patch+json', 'text/json', 'application/x-www-form-urlencoded'])(
    'content-type %s is 415 and writes nothing', async (contentType) => {
      const buyer = await createBuyer();
      const before = await purchaseCount();
      const response = await callBridge(bridge.http, 'POST', '/api/purchase', { userId: buyer, amount: 1 }, { 'content-type': contentType });
      expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(await purchaseCount()).toBe(before);
    });

  test.each(['application/json; charset=utf-8', 'Application/JSON'])('content-type %s is accepted', async (contentType) => {
    const buyer = await createBuyer();
    const response = await callBridge(bridge.http, 'POST', '/api/purchase', { userId: buyer, amount: 1 }, { 'content-type': contentType });
    expect(response.status).toBe(201);
  });
});

describe('framing', () => {
  test('two different Content-Length headers are 400, nothing is written and the connection is closed', async () => {
    const buyer = await createBuyer();
    const before = await purchaseCount();
    const body = JSON.stringify({ userId: buyer, amount: '3.00' });
    const answer = await rawRequest(bridge.http, [
      'POST /api/purchase HTTP/1.1', 'Host: test', 'Content-Type: application/json',
      `Content-Length: ${body.length}`, `Content-Length: ${body.length + 40}`,
    ], body + 'x'.repeat(40));
    expect({ status: answer.status, code: answer.json?.error?.code, closed: answer.closed })
      .toEqual({ status: 400, code: 'INVALID_CONTENT_LENGTH', closed: true });
    expect(await purchaseCount()).toBe(before);
  });
});

describe('WebSocket messages over the limit', () => {
  test('a 70 KiB message is closed with 1009, not dropped abruptly', async () => {
    const client = await connectClient(bridge.ws);
    client.send(JSON.stringify({ type: 'subscribe', userId: 1, padding: 'x'.repeat(70 * 1024) }));
    expect((await client.closed).code).toBe(1009);
  });
});

describe('tokens and /metrics with secrets set', () => {
  const jwtSecret = 'a-test-secret-that-is-long-enough-for-hs256';
  const apiKey = 'test-api-key-0123456789';
  const metricsToken = 'test-metrics-token-0123';
  let guarded: TestBridge;
  beforeAll(async () => {
    guarded = await startTestBridge(db.url, { JWT_SECRET: jwtSecret, API_KEY: apiKey, METRICS_TOKEN: metricsToken });
  });
  afterAll(async () => {
    await guarded?.stop();
  });

  test('a JWT whose sub is a number is told that sub must be a string', async () => {
    const buyer = await createBuyer();
    const token = await new SignJWT({ sub: buyer as unknown as string }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m')
      .sign(new TextEncoder().encode(jwtSecret));
    const response = await callBridge(guarded.http, 'GET', `/api/earnings/${buyer}`, undefined, { authorization: `Bearer ${token}` });
    expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect(response.json.error.message).toBe(`the token's sub must be the user id as a string, such as "${buyer}"; it is ${buyer}`);
  });

  test('a JWT that is not valid yet (nbf in the future) is told so; an expired one that it has expired', async () => {
    const buyer = await createBuyer();
    const secret = new TextEncoder().encode(jwtSecret);
    const notYet = await new SignJWT({ sub: String(buyer) }).setProtectedHeader({ alg: 'HS256' }).setNotBefore('10m').setExpirationTime('20m').sign(secret);
    const expired = await new SignJWT({ sub: String(buyer) }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('-10m').sign(secret);
    const read = (token: string) => callBridge(guarded.http, 'GET', `/api/earnings/${buyer}`, undefined, { authorization: `Bearer ${token}` });
    const [early, late] = await Promise.all([read(notYet), read(expired)]);
    expect({ status: early.status, ...early.json.error }).toEqual({
      status: 401, code: 'INVALID_TOKEN',
      message: 'the token is not valid yet: its nbf (not before) is in the future; use it from then on, or check the clocks of this server and of the token\'s issuer',
    });
    expect({ status: late.status, ...late.json.error }).toEqual({ status: 401, code: 'TOKEN_EXPIRED', message: 'the token has expired; get a new one' });
  });

  test('/metrics needs the metrics token or the API key; /health stays open', async () => {
    const metrics = (authorization?: string) =>
      callBridge(guarded.http, 'GET', '/metrics', undefined, authorization ? { authorization } : {});
    const [none, wrong, token, key] = await Promise.all([
      metrics(), metrics('Bearer not-the-token-at-all'), metrics(`Bearer ${metricsToken}`), metrics(`Bearer ${apiKey}`),
    ]);
    expect([none.status, wrong.status, token.status, key.status]).toEqual([401, 401, 200, 200]);
    expect(none.json.error.code).toBe('UNAUTHENTICATED');
    expect(token.text).toContain('http_requests_total');
    expect((await callBridge(guarded.http, 'GET', '/health')).status).toBe(200);
  });
});
