// docs/openapi.yaml describes the API as it really answers: real responses of
// the main routes, errors included, validate against it, and the bridge
// serves it at /openapi.json.

import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { openApiFile } from '../bridge/src/http/openapi.js';
import { useTestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { createBuyerWithTwoReferrers, type BuyerWithTwoReferrers } from './support/referrals.js';

const spec = parse(readFileSync(openApiFile, 'utf8')) as {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string }> }>>;
};
const db = useTestDatabase();
const bridge = useTestBridge(db);

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ ...spec, $id: 'openapi' });

/** Checks a real response against the description of its path, method and status. */
function expectDescribed(pathTemplate: string, method: string, status: number, body: unknown): void {
  const described = spec.paths[pathTemplate]?.[method]?.responses[String(status)];
  expect(described, `${method.toUpperCase()} ${pathTemplate} describes status ${status}`).toBeDefined();
  const pointer = described?.$ref ?? `#/paths/${pathTemplate.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}`;
  const validate = ajv.compile({ $ref: `openapi${pointer}/content/application~1json/schema` });
  expect(validate(body), `${method.toUpperCase()} ${pathTemplate} ${status}: ${JSON.stringify(validate.errors)}`).toBe(true);
}

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  callBridge(bridge.http, method, path, body, headers);

/** `text` with "{buyer}" and "{referrer}" (quoted or not) replaced by those users' ids. */
const withUsers = (text: string, users: BuyerWithTwoReferrers) =>
  text.replace(/"?\{(buyer|referrer)\}"?/g, (_, role: 'buyer' | 'referrer') => String(users[role]));

describe('the OpenAPI description', () => {
  test('is OpenAPI 3.1 and served as JSON at /openapi.json', async () => {
    expect(spec.openapi).toBe('3.1.0');
    const served = await call('GET', '/openapi.json');
    expect(served.status).toBe(200);
    expect(served.json).toEqual(JSON.parse(JSON.stringify(spec)));
  });

  // Paths and bodies name the users of a chain root ← referrer ← buyer that
  // each test creates, with one purchase by the buyer: {buyer}, {referrer}.
  test.each<[string, string, string, number, unknown]>([
    ['/api/purchase', 'post', '/api/purchase', 201, { userId: '{buyer}', amount: 1000 }],
    ['/api/purchase', 'post', '/api/purchase', 422, { userId: '{buyer}', amount: 1.005 }],
    ['/api/purchase', 'post', '/api/purchase', 400, '{"userId":'],
    ['/api/purchase', 'post', '/api/purchase', 404, { userId: 999999, amount: 1 }],
    ['/api/earnings/{userId}', 'get', '/api/earnings/{referrer}', 200, undefined],
    ['/api/earnings/{userId}', 'get', '/api/earnings/999999', 404, undefined],
    ['/api/earnings/{userId}', 'get', '/api/earnings/x', 400, undefined],
    ['/api/earnings/{userId}/events', 'get', '/api/earnings/{referrer}/events?after=0', 200, undefined],
    ['/api/earnings/{userId}/events', 'get', '/api/earnings/{referrer}/events?limit=5000', 400, undefined],
    ['/api/users', 'post', '/api/users', 201, { name: 'Gil', phoneNumber: '+4915112345678', referredBy: '{referrer}' }],
    ['/api/users', 'post', '/api/users', 422, { referredBy: 999999 }],
    ['/api/users/{userId}/notifications', 'get', '/api/users/{referrer}/notifications', 200, undefined],
    ['/api/users/{userId}/referrals', 'get', '/api/users/{referrer}/referrals', 200, undefined],
    ['/api/users/{userId}/referrals', 'get', '/api/users/{referrer}/referrals?limit=0', 400, undefined],
    ['/api/users/{userId}/referrals', 'get', '/api/users/999999/referrals', 404, undefined],
    ['/api/users/{userId}/earnings/daily', 'get', '/api/users/{referrer}/earnings/daily?days=7', 200, undefined],
    ['/api/users/{userId}/earnings/daily', 'get', '/api/users/{referrer}/earnings/daily?days=0', 400, undefined],
    ['/api/program/totals', 'get', '/api/program/totals', 200, undefined],
    ['/api/program/top-referrers', 'get', '/api/program/top-referrers', 200, undefined],
    ['/api/program/top-referrers', 'get', '/api/program/top-referrers?limit=x', 400, undefined],
    ['/api/whatsapp/outbox', 'get', '/api/whatsapp/outbox', 200, undefined],
    ['/health', 'get', '/health', 200, undefined],
  ])('%s %s answers as described (%s → %i)', async (template, method, path, status, body) => {
    const users = await createBuyerWithTwoReferrers(db.sql);
    expect((await call('POST', '/api/purchase', { userId: users.buyer, amount: '10' })).status).toBe(201);
    const response = await call(method.toUpperCase(), withUsers(path, users),
      body === undefined || typeof body === 'string' ? body : JSON.parse(withUsers(JSON.stringify(body), users)));
    expect(response.status).toBe(status);
    expectDescribed(template, method, status, response.json);
  });

  test('an idempotent replay (200) and a reused key (409) answer as described', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    await call('POST', '/api/purchase', { userId: buyer, amount: '5' }, { 'idempotency-key': 'openapi-1' });
    const replay = await call('POST', '/api/purchase', { userId: buyer, amount: '5' }, { 'idempotency-key': 'openapi-1' });
    expectDescribed('/api/purchase', 'post', 200, replay.json);
    const conflict = await call('POST', '/api/purchase', { userId: buyer, amount: '6' }, { 'idempotency-key': 'openapi-1' });
    expect(conflict.status).toBe(409);
    expectDescribed('/api/purchase', 'post', 409, conflict.json);
  });

  test('refunds, a refunded purchase, reversal events and refund errors answer as described', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = (await call('POST', '/api/purchase', { userId: buyer, amount: '100' })).json.purchase.id;
    const answers: Array<[string, string, number, { status: number; json: unknown }]> = [
      ['/api/purchases/{purchaseId}/refunds', 'post', 201, await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '40', reason: 'returned' }, { 'idempotency-key': `openapi-refund-${purchaseId}` })],
      ['/api/purchases/{purchaseId}/refunds', 'post', 200, await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '40', reason: 'returned' }, { 'idempotency-key': `openapi-refund-${purchaseId}` })],
      ['/api/purchases/{purchaseId}/refunds', 'post', 409, await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '41' }, { 'idempotency-key': `openapi-refund-${purchaseId}` })],
      ['/api/purchases/{purchaseId}/refunds', 'post', 422, await call('POST', `/api/purchases/${purchaseId}/refunds`, { amount: '60.01' })],
      ['/api/purchases/{purchaseId}/refunds', 'post', 404, await call('POST', '/api/purchases/999999999/refunds', {})],
      ['/api/purchases/{purchaseId}/refunds', 'post', 400, await call('POST', '/api/purchases/x/refunds', {})],
      ['/api/purchases/{purchaseId}', 'get', 200, await call('GET', `/api/purchases/${purchaseId}`)],
      ['/api/purchases/{purchaseId}', 'get', 404, await call('GET', '/api/purchases/999999999')],
      ['/api/earnings/{userId}', 'get', 200, await call('GET', `/api/earnings/${referrer}?through=1`)],
      ['/api/earnings/{userId}/events', 'get', 200, await call('GET', `/api/earnings/${referrer}/events`)],
    ];
    for (const [template, method, status, response] of answers) {
      expect(response.status, `${method} ${template}`).toBe(status);
      expectDescribed(template, method, status, response.json);
    }
    expect((answers.at(-1)![3].json as { events: Array<{ type: string }> }).events.map((event) => event.type)).toEqual(['earning_update', 'earning_reversed']);
  });

  test('settings, balances, payouts, payout events and their errors answer as described', async () => {
    await call('POST', '/api/settings', { holdingPeriod: 'P0D', currency: 'INR' });
    try {
      const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
      await call('POST', '/api/purchase', { userId: buyer, amount: '1999.99' });
      const created = await call('POST', '/api/payouts');
      const payoutId = (created.json.payouts as Array<{ id: number; userId: number }>).find((payout) => payout.userId === referrer)!.id;
      const answers: Array<[string, string, number, { status: number; json: unknown }]> = [
        ['/api/payouts', 'post', 201, created],
        ['/api/payouts', 'post', 200, await call('POST', '/api/payouts')],
        ['/api/settings', 'get', 200, await call('GET', '/api/settings')],
        ['/api/settings', 'post', 422, await call('POST', '/api/settings', { minimumPayout: -1 })],
        ['/api/users/{userId}/balance', 'get', 200, await call('GET', `/api/users/${referrer}/balance`)],
        ['/api/users/{userId}/balance', 'get', 404, await call('GET', '/api/users/999999/balance')],
        ['/api/payouts/{payoutId}/paid', 'post', 200, await call('POST', `/api/payouts/${payoutId}/paid`, { reference: 'UTR-1' })],
        ['/api/payouts/{payoutId}/failed', 'post', 409, await call('POST', `/api/payouts/${payoutId}/failed`, {})],
        ['/api/payouts/{payoutId}/cancel', 'post', 404, await call('POST', '/api/payouts/999999999/cancel', {})],
        ['/api/payouts/{payoutId}', 'get', 200, await call('GET', `/api/payouts/${payoutId}`)],
        ['/api/users/{userId}/payouts', 'get', 200, await call('GET', `/api/users/${referrer}/payouts`)],
        ['/api/payouts', 'get', 200, await call('GET', '/api/payouts?status=paid&limit=5')],
        ['/api/payouts', 'get', 400, await call('GET', '/api/payouts?status=sent')],
        ['/api/payouts.csv', 'get', 400, await call('GET', '/api/payouts.csv?from=2026-01-02&to=2026-01-01')],
        ['/api/earnings/{userId}/events', 'get', 200, await call('GET', `/api/earnings/${referrer}/events`)],
        ['/api/settings', 'post', 200, await call('POST', '/api/settings', { holdingPeriod: 'P30D', currency: '' })],
      ];
      for (const [template, method, status, response] of answers) {
        expect(response.status, `${method} ${template}`).toBe(status);
        expectDescribed(template, method, status, response.json);
      }
      expect((answers[14]![3].json as { events: Array<{ type: string }> }).events.map((event) => event.type)).toEqual(['earning_update', 'payout_created', 'payout_paid']);
    } finally {
      await call('POST', '/api/settings', { holdingPeriod: 'P30D', currency: '' });
    }
  });

  test('the check refuses a body the description does not allow', () => {
    expect(() => expectDescribed('/api/earnings/{userId}', 'get', 200, { userId: 2, total: 60, levels: [] })).toThrow();
  });
});
