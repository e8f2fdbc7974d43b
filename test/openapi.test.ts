// docs/openapi.yaml describes the API as it really answers: real responses of
// the main routes, errors included, validate against it, and the bridge
// serves it at /openapi.json.

import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openApiFile } from '../bridge/src/http/openapi.js';
import { startTestBridge, type TestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { loadOriginalDemoUsers } from './support/demo-tree.js';

const spec = parse(readFileSync(openApiFile, 'utf8')) as {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string }> }>>;
};
const db = useTestDatabase();
let bridge: TestBridge;

beforeAll(async () => {
  await loadOriginalDemoUsers(db.sql);
  bridge = await startTestBridge(db.url);
});
afterAll(async () => {
  await bridge?.stop();
});

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ ...spec, $id: 'openapi' });

/** Checks a real response against the description of its path, method and status. */
function expectDescribed(pathTemplate: string, method: string, status: number, body: unknown): void {
  const described = spec.paths[pathTemplate]?.[method]?.responses[String(status)];
  expect(described, `${method.toUpperCase()} ${pathTemplate} describes status ${status}`).toBeDefined();
  const pointer = described!.$ref ?? `#/paths/${pathTemplate.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}`;
  const validate = ajv.compile({ $ref: `openapi${pointer}/content/application~1json/schema` });
  expect(validate(body), `${method.toUpperCase()} ${pathTemplate} ${status}: ${JSON.stringify(validate.errors)}`).toBe(true);
}

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  callBridge(bridge.http, method, path, body, headers);

describe('the OpenAPI description', () => {
  test('is OpenAPI 3.1 and served as JSON at /openapi.json', async () => {
    expect(spec.openapi).toBe('3.1.0');
    const served = await call('GET', '/openapi.json');
    expect(served.status).toBe(200);
    expect(served.json).toEqual(JSON.parse(JSON.stringify(spec)));
  });

  test.each([
    ['/api/purchase', 'post', '/api/purchase', { userId: 4, amount: 1000 }, 201],
    ['/api/purchase', 'post', '/api/purchase', { userId: 4, amount: 1.005 }, 422],
    ['/api/purchase', 'post', '/api/purchase', '{"userId":', 400],
    ['/api/purchase', 'post', '/api/purchase', { userId: 999999, amount: 1 }, 404],
    ['/api/earnings/{userId}', 'get', '/api/earnings/2', undefined, 200],
    ['/api/earnings/{userId}', 'get', '/api/earnings/999999', undefined, 404],
    ['/api/earnings/{userId}', 'get', '/api/earnings/x', undefined, 400],
    ['/api/earnings/{userId}/events', 'get', '/api/earnings/2/events?after=0', undefined, 200],
    ['/api/earnings/{userId}/events', 'get', '/api/earnings/2/events?limit=5000', undefined, 400],
    ['/api/users', 'post', '/api/users', { name: 'Gil', phoneNumber: '+4915112345678', referredBy: 2 }, 201],
    ['/api/users', 'post', '/api/users', { referredBy: 999999 }, 422],
    ['/api/users/{userId}/notifications', 'get', '/api/users/2/notifications', undefined, 200],
    ['/health', 'get', '/health', undefined, 200],
  ])('%s %s answers as described (%s → %i)', async (template, method, path, body, status) => {
    const response = await call(method.toUpperCase(), path, body);
    expect(response.status).toBe(status);
    expectDescribed(template, method, status, response.json);
  });

  test('an idempotent replay (200) and a reused key (409) answer as described', async () => {
    await call('POST', '/api/purchase', { userId: 3, amount: '5' }, { 'idempotency-key': 'openapi-1' });
    const replay = await call('POST', '/api/purchase', { userId: 3, amount: '5' }, { 'idempotency-key': 'openapi-1' });
    expectDescribed('/api/purchase', 'post', 200, replay.json);
    const conflict = await call('POST', '/api/purchase', { userId: 3, amount: '6' }, { 'idempotency-key': 'openapi-1' });
    expect(conflict.status).toBe(409);
    expectDescribed('/api/purchase', 'post', 409, conflict.json);
  });

  test('the check refuses a body the description does not allow', () => {
    expect(() => expectDescribed('/api/earnings/{userId}', 'get', 200, { userId: 2, total: 60, levels: [] })).toThrow();
  });
});
