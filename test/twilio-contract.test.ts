// The requests we send to Twilio are valid for Twilio's official OpenAPI
// description (../shared/twilio/twilio_api_v2010.json): path, auth, media
// type, and every form field against the CreateMessageRequest schema, with no
// field the API does not define.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, test } from 'vitest';
import { projectRoot } from '../bridge/src/project-paths.js';
import { useTestDatabase } from './support/database.js';
import { useFakeTwilio, type TwilioRequest } from './support/fake-twilio.js';
import { waitFor } from './support/wait.js';
import { phoneChain, startTestWorker, workerEnvironment } from './support/whatsapp.js';

const specFile = path.join(projectRoot, '..', 'shared', 'twilio', 'twilio_api_v2010.json');
const specPresent = existsSync(specFile);
if (!specPresent) console.warn(`Twilio contract test skipped: ${specFile} is absent`);

const messagesPath = '/2010-04-01/Accounts/{AccountSid}/Messages.json';
const db = useTestDatabase();
const fake = useFakeTwilio();

async function requestsSentWith(env: Record<string, string>): Promise<TwilioRequest[]> {
  fake.requests.length = 0;
  const { buyer } = await phoneChain(db.sql);
  const worker = await startTestWorker(db.url, workerEnvironment(fake.url, env));
  try {
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1999.99)`;
    await waitFor('two requests', () => fake.requests.length === 2);
    return [...fake.requests];
  } finally {
    await worker.stop();
  }
}

describe.skipIf(!specPresent)('requests to Twilio match its OpenAPI description', () => {
  const spec = specPresent ? JSON.parse(readFileSync(specFile, 'utf8')) : undefined;
  const operation = spec?.paths[messagesPath].post;

  function check(requests: TwilioRequest[]) {
    const schema = operation.requestBody.content['application/x-www-form-urlencoded'].schema;
    const ajv = new Ajv({ strict: false, allErrors: true });
    (addFormatsModule as unknown as (ajv: Ajv) => void)(ajv);
    // Twilio's own format: E.164, or a channel address such as whatsapp:+15552229999.
    ajv.addFormat('phone-number', /^(?:[a-z]+:)?\+[1-9]\d{1,14}$/);
    const validate = ajv.compile({ ...schema, additionalProperties: false, components: spec.components });
    const accountSid = new RegExp(operation.parameters.find((parameter: { name: string }) => parameter.name === 'AccountSid').schema.pattern);
    expect(operation.security).toEqual([{ accountSid_authToken: [] }]);
    for (const request of requests) {
      const [, sidInPath] = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(request.path) ?? [];
      expect(sidInPath, request.path).toMatch(accountSid);
      expect(request.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      expect(request.authorization).toMatch(/^Basic /);
      expect(validate(request.params), JSON.stringify(validate.errors)).toBe(true);
    }
  }

  test('a free-form message with a status callback', async () => {
    const requests = await requestsSentWith({ PUBLIC_BASE_URL: 'https://referrals.example.com' });
    for (const { params } of requests) {
      expect(params).toHaveProperty('Body');
      expect(params).toHaveProperty('StatusCallback', 'https://referrals.example.com/twilio/status');
    }
    check(requests);
  });

  test('a Content template message', async () => {
    const requests = await requestsSentWith({ TWILIO_CONTENT_SID: `HX${'0f'.repeat(16)}` });
    for (const { params } of requests) expect(params).toHaveProperty('ContentSid');
    check(requests);
  });

  test('the check itself refuses a request Twilio would not accept', () => {
    const valid: TwilioRequest = {
      path: `/2010-04-01/Accounts/AC${'0'.repeat(32)}/Messages.json`, authorization: 'Basic x',
      contentType: 'application/x-www-form-urlencoded', params: { To: 'whatsapp:+4915100000000', Body: 'hi' }, at: 0,
    };
    expect(() => check([valid])).not.toThrow();
    expect(() => check([{ ...valid, params: { To: 'whatsapp:+4915100000000', Boddy: 'a misspelt field' } }])).toThrow(/additionalProperties/);
    expect(() => check([{ ...valid, params: { Body: 'no recipient' } }])).toThrow(/required/);
  });
});
