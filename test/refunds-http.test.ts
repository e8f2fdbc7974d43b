// Refunds over HTTP and on the WebSocket: POST /api/purchases/:id/refunds
// answers with the refund and the reversals the database wrote, exactly and
// idempotently; GET /api/purchases/:id shows what is left; summaries net the
// reversals; and every reversal reaches the beneficiary's subscribers live,
// on the same seq stream as the earnings, so the amounts they receive always
// add up to the total.

import { describe, expect, test } from 'vitest';
import { createReferralClient } from '../bridge/src/client/referral-client.js';
import { startTestBridge, useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { createBuyerWithTwoReferrers, createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';
import { subscribedClient, type Frame, type TestClient } from './support/ws-client.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  callBridge(bridge.http, method, path, body, headers);

/** A buyer with two referrers and one purchase of `amount` through the API; returns the ids. */
async function purchased(amount: string) {
  const users = await createBuyerWithTwoReferrers(db.sql);
  const response = await call('POST', '/api/purchase', { userId: users.buyer, amount });
  expect(response.status).toBe(201);
  return { ...users, purchaseId: response.json.purchase.id as number };
}

/** Earning and reversal events, as a client receives them. */
const ledgerEvents = (client: TestClient) =>
  client.frames.filter((frame): frame is Frame & { seq: number; amount: string } => frame.type === 'earning_update' || frame.type === 'earning_reversed');

/** What a refund could have written for the purchase, as text. */
async function refundTraces(purchaseId: number) {
  return onlyRow(await db.sql<{ refunds: number; reversals: number; total: string | null }[]>`
    SELECT (SELECT count(*)::int FROM refunds WHERE purchase_id = ${purchaseId}) AS refunds,
           (SELECT count(*)::int FROM earnings WHERE purchase_id = ${purchaseId} AND refund_id IS NOT NULL) AS reversals,
           (SELECT refunded::text FROM purchase_refund_totals WHERE purchase_id = ${purchaseId}) AS total`);
}

describe('POST /api/purchases/:purchaseId/refunds', () => {
  test('refunds part of a purchase: 201 with the refund and the reversals at every level', async () => {
    const { root, referrer, purchaseId } = await purchased('1000');
    const response = await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '250.00', reason: 'one item returned' });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({
      refund: { id: expect.any(Number), purchaseId, amount: '250.00', reason: 'one item returned', createdAt: expect.stringMatching(/Z$/), idempotencyKey: null },
      reversals: [
        { earningId: expect.any(Number), reversesEarningId: expect.any(Number), userId: referrer, level: 1, rate: '0.05', amount: '-12.50', seq: 2 },
        { earningId: expect.any(Number), reversesEarningId: expect.any(Number), userId: root, level: 2, rate: '0.01', amount: '-2.50', seq: 2 },
      ],
    });
    expect(response.json.reversals[0].reversesEarningId).not.toBe(response.json.reversals[1].reversesEarningId);
    expect((await call('GET', `/api/earnings/${referrer}`)).json.total).toBe('37.50');
  });

  test('takes the amount as a JSON number as written, and refuses anything it would have to round', async () => {
    const { purchaseId } = await purchased('100');
    expect((await call('POST', `/api/purchases/${purchaseId}/refunds`, '{"amount": 10.10}')).json.refund.amount).toBe('10.10');
    const before = await refundTraces(purchaseId);
    for (const amount of ['"1.005"', '10.0000000000000001', '0', '-1', '"ten"', 'null', 'true', '""']) {
      const response = await call('POST', `/api/purchases/${purchaseId}/refunds`, `{"amount": ${amount}}`);
      expect({ amount, status: response.status, code: response.json.error.code }).toEqual({ amount, status: 422, code: 'INVALID_AMOUNT' });
    }
    expect(await refundTraces(purchaseId)).toEqual(before);
  });

  test('without an amount refunds whatever is left, as the database works it out', async () => {
    const { referrer, root, purchaseId } = await purchased('1999.99');
    await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '0.01' });
    const rest = await call('POST', `/api/purchases/${purchaseId}/refunds`, {});
    expect(rest.status).toBe(201);
    expect(rest.json.refund).toMatchObject({ amount: '1999.98', reason: null });
    expect(rest.json.reversals.map((reversal: { amount: string }) => reversal.amount)).toEqual(['-99.999', '-19.9998']);
    for (const userId of [referrer, root]) expect((await call('GET', `/api/earnings/${userId}`)).json.total).toBe('0.00');
  });

  test('an over-refund is 422 REFUND_EXCEEDS_PURCHASE naming what is left, and writes nothing', async () => {
    const { purchaseId } = await purchased('100');
    await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '60' });
    const before = await refundTraces(purchaseId);
    const over = await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '40.01' });
    expect(over.status).toBe(422);
    expect(over.json).toEqual({ error: {
      code: 'REFUND_EXCEEDS_PURCHASE',
      message: `a refund of 40.01 would exceed purchase ${purchaseId}: 40.00 of its 100.00 is left to refund`,
    } });
    await call('POST', `/api/purchases/${purchaseId}/refunds`, {});
    const nothingLeft = await call('POST', `/api/purchases/${purchaseId}/refunds`, {});
    expect(nothingLeft.status).toBe(422);
    expect(nothingLeft.json.error).toEqual({ code: 'REFUND_EXCEEDS_PURCHASE', message: `purchase ${purchaseId} has nothing left to refund: all 100.00 of it was refunded` });
    expect((await refundTraces(purchaseId)).refunds).toBe(before.refunds + 1);
  });

  test('an unknown purchase is 404 PURCHASE_NOT_FOUND; a purchase id that is not one is 400', async () => {
    for (const body of [{ amount: '1' }, {}]) {
      const response = await call('POST', '/api/purchases/9223372036854775807/refunds', body);
      expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 404, code: 'PURCHASE_NOT_FOUND' });
    }
    for (const id of ['0', '-1', 'x', '1.5', '9223372036854775808', '99999999999999999999']) {
      const response = await call('POST', `/api/purchases/${id}/refunds`, { amount: '1' });
      expect({ id, status: response.status, code: response.json.error.code }).toEqual({ id, status: 400, code: 'INVALID_PURCHASE_ID' });
    }
  });

  test('a misspelt field, a bad reason or a body that is not an object is refused, never ignored', async () => {
    const { purchaseId } = await purchased('100');
    const cases: Array<[unknown, string]> = [
      [{ ammount: '1' }, 'INVALID_BODY'],
      [{ amount: '1', note: 'x' }, 'INVALID_BODY'],
      ['[]', 'INVALID_BODY'],
      [{ amount: '1', reason: 5 }, 'INVALID_REASON'],
      [{ amount: '1', reason: 'x'.repeat(501) }, 'INVALID_REASON'],
      [{ amount: '1', reason: 'nul \u0000 inside' }, 'INVALID_REASON'],
    ];
    for (const [body, code] of cases) {
      const response = await call('POST', `/api/purchases/${purchaseId}/refunds`, body);
      expect({ body, status: response.status, code: response.json.error.code }).toEqual({ body, status: 422, code });
    }
    expect((await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '1', reason: '🙂'.repeat(500) })).status).toBe(201);
    expect((await refundTraces(purchaseId)).refunds).toBe(1);
  });

  test('a refund of a purchase that earned nothing is accepted and reverses nothing', async () => {
    const buyer = await createUser(db.sql);
    const purchaseId = (await call('POST', '/api/purchase', { userId: buyer, amount: '25' })).json.purchase.id;
    const response = await call('POST', `/api/purchases/${purchaseId}/refunds`, {});
    expect(response.status).toBe(201);
    expect(response.json).toMatchObject({ refund: { amount: '25.00' }, reversals: [] });
  });
});

describe('Idempotency-Key', () => {
  test('a repeat replays the refund with 200 and the same body; the key with another request is 409; one refund is written', async () => {
    const { purchaseId } = await purchased('100');
    const send = (body: unknown) => call('POST', `/api/purchases/${purchaseId}/refunds`, body, { 'idempotency-key': `refund-${purchaseId}` });
    const first = await send({ amount: '30', reason: 'damaged' });
    expect(first.status).toBe(201);
    expect(first.json.refund.idempotencyKey).toBe(`refund-${purchaseId}`);
    const replay = await send({ amount: '30.00', reason: 'damaged' });
    expect(replay.status).toBe(200);
    expect(replay.text).toBe(first.text);
    for (const other of [{ amount: '31', reason: 'damaged' }, { amount: '30' }, { amount: '30', reason: 'late' }]) {
      const conflict = await send(other);
      expect({ other, status: conflict.status, code: conflict.json.error.code }).toEqual({ other, status: 409, code: 'IDEMPOTENCY_KEY_REUSED' });
    }
    expect(await refundTraces(purchaseId)).toEqual({ refunds: 1, reversals: 2, total: '30' });
  });

  test('"refund the rest", repeated with its key after the purchase was refunded in full, replays instead of finding nothing left', async () => {
    const { purchaseId } = await purchased('100');
    const send = () => call('POST', `/api/purchases/${purchaseId}/refunds`, {}, { 'idempotency-key': `rest-${purchaseId}` });
    const first = await send();
    expect(first.status).toBe(201);
    const replay = await send();
    expect({ status: replay.status, text: replay.text }).toEqual({ status: 200, text: first.text });
  });

  test('8 identical requests at once record one refund: one 201 and seven 200s with the same body', async () => {
    const { purchaseId } = await purchased('100');
    const responses = await Promise.all(Array.from({ length: 8 }, () =>
      call('POST', `/api/purchases/${purchaseId}/refunds`, {}, { 'idempotency-key': `burst-${purchaseId}` })));
    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(responses.map((response) => response.text)).size).toBe(1);
    expect(await refundTraces(purchaseId)).toEqual({ refunds: 1, reversals: 2, total: '100' });
  });

  test('an Idempotency-Key that is not 1-200 visible ASCII characters is 422', async () => {
    const { purchaseId } = await purchased('100');
    const response = await call('POST', `/api/purchases/${purchaseId}/refunds`, {}, { 'idempotency-key': 'k'.repeat(201) });
    expect({ status: response.status, code: response.json.error.code }).toEqual({ status: 422, code: 'INVALID_IDEMPOTENCY_KEY' });
  });
});

describe('GET /api/purchases/:purchaseId', () => {
  test('returns the purchase, its credits, each refund with its reversals, and what is left to refund', async () => {
    const { root, referrer, buyer, purchaseId } = await purchased('1000');
    const first = await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '250.00' });
    const second = await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '100.00', reason: 'goodwill' });
    const response = await call('GET', `/api/purchases/${purchaseId}`);
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      purchase: { id: purchaseId, userId: buyer, amount: '1000.00', createdAt: expect.any(String), idempotencyKey: null },
      refunded: '350.00',
      leftToRefund: '650.00',
      earnings: [
        { earningId: first.json.reversals[0].reversesEarningId, userId: referrer, level: 1, rate: '0.05', amount: '50.00', seq: 1 },
        { earningId: first.json.reversals[1].reversesEarningId, userId: root, level: 2, rate: '0.01', amount: '10.00', seq: 1 },
      ],
      refunds: [first.json, second.json],
    });
  });

  test('a purchase never refunded has nothing refunded and all of it left; an unknown one is 404', async () => {
    const { purchaseId } = await purchased('19.99');
    expect((await call('GET', `/api/purchases/${purchaseId}`)).json).toMatchObject({ refunded: '0.00', leftToRefund: '19.99', refunds: [] });
    const missing = await call('GET', '/api/purchases/9223372036854775807');
    expect({ status: missing.status, error: missing.json.error }).toEqual({
      status: 404, error: { code: 'PURCHASE_NOT_FOUND', message: 'there is no purchase 9223372036854775807' },
    });
  });
});

describe('summaries net reversals', () => {
  test('GET /api/earnings/:userId totals include reversals, and each level counts its credits and reversals', async () => {
    const { root, referrer, purchaseId } = await purchased('1000');
    const other = (await call('POST', '/api/purchase', { userId: (await createUser(db.sql, referrer)), amount: '200' })).json.purchase.id;
    await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '1000' });
    await call('POST', `/api/purchases/${other}/refunds`, { amount: '50' });
    expect((await call('GET', `/api/earnings/${referrer}`)).json).toEqual({
      userId: referrer, total: '7.50',
      levels: [{ level: 1, total: '7.50', count: 2, reversals: 2 }, { level: 2, total: '0.00', count: 0, reversals: 0 }],
    });
    expect((await call('GET', `/api/earnings/${root}`)).json).toEqual({
      userId: root, total: '1.50',
      levels: [{ level: 1, total: '0.00', count: 0, reversals: 0 }, { level: 2, total: '1.50', count: 2, reversals: 2 }],
    });
  });

  test('?through=SEQ gives the totals as they stood right after that event', async () => {
    const { referrer, purchaseId } = await purchased('1000');
    await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '1000' });
    const at = async (through: string) => (await call('GET', `/api/earnings/${referrer}?through=${through}`)).json;
    expect((await at('0')).total).toBe('0.00');
    expect(await at('1')).toMatchObject({ total: '50.00', levels: [{ level: 1, total: '50.00', count: 1, reversals: 0 }, expect.anything()] });
    expect(await at('2')).toMatchObject({ total: '0.00', levels: [{ level: 1, total: '0.00', count: 1, reversals: 1 }, expect.anything()] });
    const bad = await call('GET', `/api/earnings/${referrer}?through=-1`);
    expect({ status: bad.status, code: bad.json.error.code }).toEqual({ status: 400, code: 'INVALID_THROUGH' });
  });
});

describe('live events', () => {
  test('a refund inserted with plain SQL reaches the beneficiaries\' subscribers as earning_reversed, after the earning, adding up to the total', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const level1 = await subscribedClient(bridge.ws, referrer);
    const level2 = await subscribedClient(bridge.ws, root);
    try {
      const purchaseId = onlyRow(await db.sql<{ id: string }[]>`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1000) RETURNING id::text`).id;
      await waitFor('the earning', () => ledgerEvents(level1).length === 1);
      const refundId = onlyRow(await db.sql<{ id: string }[]>`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 1000) RETURNING id::text`).id;
      await waitFor('the reversal at level 1', () => ledgerEvents(level1).length === 2);
      await waitFor('both events at level 2', () => ledgerEvents(level2).length === 2);

      const [earning, reversal] = ledgerEvents(level1);
      expect(earning).toMatchObject({ type: 'earning_update', userId: referrer, seq: 1, amount: '50.00', purchaseId: Number(purchaseId) });
      expect(reversal).toEqual({
        type: 'earning_reversed', userId: referrer, seq: 2, earningId: expect.any(Number), reversesEarningId: earning!.earningId,
        refundId: Number(refundId), purchaseId: Number(purchaseId), fromUserId: buyer, level: 1, rate: '0.05',
        amount: '-50.00', refundAmount: '1000.00', purchaseAmount: '1000.00', createdAt: expect.stringMatching(/Z$/),
      });
      expect(ledgerEvents(level2).map((event) => [event.type, event.seq, event.amount])).toEqual([
        ['earning_update', 1, '10.00'], ['earning_reversed', 2, '-10.00'],
      ]);
      for (const [client, userId] of [[level1, referrer], [level2, root]] as const) {
        const summed = onlyRow(await db.sql<{ sum: string }[]>`
          SELECT decimal_text(sum(amount::numeric)) AS sum FROM unnest(${ledgerEvents(client).map((event) => event.amount)}::text[]) AS amount`).sum;
        expect(summed).toBe((await call('GET', `/api/earnings/${userId}`)).json.total);
      }
    } finally {
      await Promise.all([level1.close(), level2.close()]);
    }
  });

  test('resuming with after replays credits and reversals in seq order, on the WebSocket and over HTTP', async () => {
    const { referrer, purchaseId } = await purchased('100');
    await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '40' });
    await call('POST', '/api/purchase', { userId: (await createUser(db.sql, referrer)), amount: '10' });
    await call('POST', `/api/purchases/${purchaseId}/refunds`, {});
    const expected = [['earning_update', 1, '5.00'], ['earning_reversed', 2, '-2.00'], ['earning_update', 3, '0.50'], ['earning_reversed', 4, '-3.00']];

    const fromStart = await subscribedClient(bridge.ws, referrer, { after: 0 });
    const fromSeq2 = await subscribedClient(bridge.ws, referrer, { after: 2 });
    try {
      await waitFor('4 replayed events', () => ledgerEvents(fromStart).length === 4);
      await waitFor('2 replayed events', () => ledgerEvents(fromSeq2).length === 2);
      expect(ledgerEvents(fromStart).map((event) => [event.type, event.seq, event.amount])).toEqual(expected);
      expect(ledgerEvents(fromSeq2).map((event) => [event.type, event.seq, event.amount])).toEqual(expected.slice(2));
      const page = await call('GET', `/api/earnings/${referrer}/events?after=1`);
      expect(page.json.events.map((event: Frame) => [event.type, event.seq, event.amount])).toEqual(expected.slice(1));
      expect(page.json.events).toEqual(ledgerEvents(fromStart).slice(1));
    } finally {
      await Promise.all([fromStart.close(), fromSeq2.close()]);
    }
  });
});

describe('the typed client', () => {
  test('refunds part and then the rest of a purchase, reads it back, and reads totals as they stood', async () => {
    const { referrer, purchaseId } = await purchased('1000');
    const client = createReferralClient({ baseUrl: bridge.http });
    const part = await client.refund(purchaseId, { amount: '250.00', reason: 'one item returned', idempotencyKey: `client-${purchaseId}` });
    expect(part.reversals.map((reversal) => reversal.amount)).toEqual(['-12.50', '-2.50']);
    expect(await client.refund(purchaseId, { amount: '250.00', reason: 'one item returned', idempotencyKey: `client-${purchaseId}` })).toEqual(part);
    await expect(client.refund(purchaseId, { amount: '750.01' })).rejects.toMatchObject({ status: 422, code: 'REFUND_EXCEEDS_PURCHASE' });
    expect((await client.refund(purchaseId)).refund.amount).toBe('750.00');
    expect(await client.purchaseDetails(purchaseId)).toMatchObject({ refunded: '1000.00', leftToRefund: '0.00', refunds: [part, expect.anything()] });
    expect((await client.summary(referrer)).total).toBe('0.00');
    expect((await client.summary(referrer, 2)).total).toBe('37.50');
  });
});

describe('retries and keys', () => {
  test('a refund aborted by a serialization failure is run again; one that keeps failing is 503 TRANSACTION_CONFLICT and writes nothing', async () => {
    const { purchaseId } = await purchased('100');
    // A test-only trigger: the first two attempts at refunding 7.77 fail with 40001; 8.88 always does.
    await db.sql.unsafe(`
      CREATE SEQUENCE test_refund_conflicts;
      CREATE FUNCTION test_refund_conflicts() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.amount = 8.88 OR nextval('test_refund_conflicts') <= 2 THEN
          RAISE EXCEPTION 'test: a serialization failure' USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refund_conflicts BEFORE INSERT ON refunds FOR EACH ROW
        WHEN (NEW.amount IN (7.77, 8.88)) EXECUTE FUNCTION test_refund_conflicts();`);
    try {
      const retried = await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '7.77' });
      expect(retried.status).toBe(201);
      const metrics = (await call('GET', '/metrics')).text;
      expect(metrics).toMatch(/^refund_transaction_retries_total\{code="40001"\} 2$/m);

      const gaveUp = await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '8.88' });
      expect({ status: gaveUp.status, code: gaveUp.json.error.code, retryAfter: gaveUp.headers.get('retry-after') })
        .toEqual({ status: 503, code: 'TRANSACTION_CONFLICT', retryAfter: '1' });
      expect(await refundTraces(purchaseId)).toEqual({ refunds: 1, reversals: 2, total: '7.77' });
    } finally {
      await db.sql.unsafe(`DROP TRIGGER test_refund_conflicts ON refunds; DROP FUNCTION test_refund_conflicts(); DROP SEQUENCE test_refund_conflicts;`);
    }
  });

  test('with API_KEY set, refunding and reading a purchase need the key', async () => {
    const apiKey = 'refund-test-api-key-0123';
    const keyed = await startTestBridge(db.url, { API_KEY: apiKey });
    try {
      const { buyer } = await createBuyerWithTwoReferrers(db.sql);
      const bearer = { authorization: `Bearer ${apiKey}` };
      const purchaseId = (await callBridge(keyed.http, 'POST', '/api/purchase', { userId: buyer, amount: '10' }, bearer)).json.purchase.id;
      for (const [method, path, body] of [['POST', `/api/purchases/${purchaseId}/refunds`, {}], ['GET', `/api/purchases/${purchaseId}`, undefined]] as const) {
        const refused = await callBridge(keyed.http, method, path, body);
        expect({ method, status: refused.status, code: refused.json.error.code }).toEqual({ method, status: 401, code: 'UNAUTHENTICATED' });
        const wrongKey = await callBridge(keyed.http, method, path, body, { authorization: 'Bearer not-the-key-at-all' });
        expect(wrongKey.status).toBe(401);
      }
      expect(await refundTraces(purchaseId)).toEqual({ refunds: 0, reversals: 0, total: null });
      expect((await callBridge(keyed.http, 'POST', `/api/purchases/${purchaseId}/refunds`, {}, bearer)).status).toBe(201);
      expect((await callBridge(keyed.http, 'GET', `/api/purchases/${purchaseId}`, undefined, bearer)).json.leftToRefund).toBe('0.00');
    } finally {
      await keyed.stop();
    }
  });
});
