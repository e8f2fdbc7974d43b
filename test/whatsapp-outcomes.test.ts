// What the worker records when Twilio's answer is odd, late or missing. Any
// 2xx is an accepted message. Twilio's API has no idempotency key, so a send
// that may have reached Twilio without an answer (a timeout, a dropped
// connection, a worker that lost its claim) is an unknown outcome: tried once
// more at most, and failed as OUTCOME_UNKNOWN after a second one.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { accepted, twilioError, useFakeTwilio, type TwilioRequest } from './support/fake-twilio.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';
import { phoneChain, startTestWorker, workerEnvironment } from './support/whatsapp.js';

const db = useTestDatabase();
const twilio = useFakeTwilio();
beforeEach(async () => {
  twilio.requests.length = 0;
  twilio.answer = () => accepted();
  // Each test sends its own messages only.
  await db.sql`UPDATE whatsapp_outbox SET status = 'skipped', lease_expires_at = NULL WHERE status IN ('queued', 'sending')`;
});

interface Outcome {
  status: string;
  attempts: number;
  unknownOutcomes: number;
  twilioSid: string | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
}

/** A referrer whose purchases queue exactly one message each (the root has no phone). */
async function oneRecipient(): Promise<{ referrer: number; buyer: number }> {
  const { root, referrer, buyer } = await phoneChain(db.sql);
  await db.sql`UPDATE users SET phone_number = NULL WHERE id = ${root}`;
  return { referrer, buyer };
}

/** Inserts a purchase of `buyer`; returns the id of the one message it queued. */
async function queueOne(buyer: number): Promise<string> {
  const purchase = onlyRow(await db.sql<{ id: number }[]>`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10) RETURNING id`);
  return onlyRow(await db.sql<{ id: string }[]>`
    SELECT outbox.id::text FROM whatsapp_outbox outbox JOIN earnings earning ON earning.id = outbox.earning_id
    WHERE earning.purchase_id = ${purchase.id}`).id;
}

async function outcomeOf(id: string): Promise<Outcome> {
  return onlyRow(await db.sql<Outcome[]>`
    SELECT status, attempts, unknown_outcomes AS "unknownOutcomes", twilio_sid AS "twilioSid",
           last_error_code AS "lastErrorCode", last_error_message AS "lastErrorMessage"
    FROM whatsapp_outbox WHERE id = ${id}`);
}

async function settledOutcome(id: string, status: string): Promise<Outcome> {
  return waitFor(`message ${id} ${status}`, async () => {
    const outcome = await outcomeOf(id);
    return outcome.status === status ? outcome : undefined;
  });
}

const sentTo = (recipient: string) => (request: TwilioRequest) => request.params.To === `whatsapp:${recipient}`;

async function recipientOf(userId: number): Promise<string> {
  return onlyRow(await db.sql<{ phone: string }[]>`SELECT phone_number AS phone FROM users WHERE id = ${userId}`).phone;
}

describe('a 2xx is an accepted message', () => {
  test('a 201 without a sid is sent once, with no SID', async () => {
    const { referrer, buyer } = await oneRecipient();
    twilio.answer = () => ({ status: 201, body: {} });
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '5' }));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'sent')).toMatchObject({ attempts: 1, unknownOutcomes: 0, twilioSid: null, lastErrorCode: null });
      expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(1);
      expect(worker.logs.filter((line) => line.msg.startsWith('cannot record'))).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  test('a 201 whose body is not JSON (a proxy\'s HTML page) is sent once, with no SID', async () => {
    const { referrer, buyer } = await oneRecipient();
    twilio.answer = () => ({ status: 201, body: '<html><body>Accepted</body></html>', contentType: 'text/html' });
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '5' }));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'sent')).toMatchObject({ attempts: 1, twilioSid: null, lastErrorCode: null });
      expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(1);
    } finally {
      await worker.stop();
    }
  });
});

describe('an unknown outcome is tried once more at most', () => {
  test('a Twilio slower than TWILIO_TIMEOUT_MS gets the message twice, not WHATSAPP_MAX_ATTEMPTS times, and it ends failed as OUTCOME_UNKNOWN', async () => {
    const { referrer, buyer } = await oneRecipient();
    // Twilio accepts every request, but answers after the worker gave up on it.
    twilio.answer = () => ({ ...(accepted() as { status: number; body: Record<string, unknown> }), delayMs: 1500 });
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '5', TWILIO_TIMEOUT_MS: '300' }));
    try {
      const id = await queueOne(buyer);
      const outcome = await settledOutcome(id, 'failed');
      expect(outcome).toMatchObject({ attempts: 2, unknownOutcomes: 2, twilioSid: null, lastErrorCode: 'OUTCOME_UNKNOWN' });
      expect(outcome.lastErrorMessage).toMatch(/may have been sent/);
      expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(2);
    } finally {
      await worker.stop();
    }
  });

  test('a connection dropped after the request, then a 201: sent, and the row says a duplicate was possible', async () => {
    const { buyer } = await oneRecipient();
    twilio.answer = (_, index) => (index === 0 ? 'drop' : accepted());
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'sent')).toMatchObject({ attempts: 2, unknownOutcomes: 1, twilioSid: expect.stringMatching(/^SM/), lastErrorCode: null });
    } finally {
      await worker.stop();
    }
  });

  test('a request that never reached Twilio (connection refused) is retried up to WHATSAPP_MAX_ATTEMPTS, as before', async () => {
    const { buyer } = await oneRecipient();
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refusing = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const worker = await startTestWorker(db.url, workerEnvironment(refusing, { WHATSAPP_MAX_ATTEMPTS: '4', WHATSAPP_RETRY_BASE_MS: '20' }));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'failed')).toMatchObject({ attempts: 4, unknownOutcomes: 0, lastErrorCode: 'ECONNREFUSED' });
    } finally {
      await worker.stop();
    }
  });
});

describe('an error answer that may have come after Twilio read the request is an unknown outcome', () => {
  // A 500 is Twilio's own failure after reading the request; a 502 or 504 is
  // a gateway's (TWILIO_API_BASE_URL may name a proxy) that may have
  // forwarded it. None says the message was not accepted.
  for (const status of [500, 502, 504]) {
    test(`a ${status} after a dropped connection: two POSTs, then failed as OUTCOME_UNKNOWN`, async () => {
      const { referrer, buyer } = await oneRecipient();
      const gatewayPage = { status, body: `<html><body>${status} Gateway</body></html>`, contentType: 'text/html' };
      twilio.answer = (_, index) => (index === 0 ? 'drop' : gatewayPage);
      const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '8', WHATSAPP_RETRY_BASE_MS: '20' }));
      try {
        const id = await queueOne(buyer);
        const outcome = await settledOutcome(id, 'failed');
        expect(outcome).toMatchObject({ attempts: 2, unknownOutcomes: 2, lastErrorCode: 'OUTCOME_UNKNOWN' });
        expect(outcome.lastErrorMessage).toMatch(new RegExp(`HTTP ${status}.*may have been sent`));
        expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(2);
      } finally {
        await worker.stop();
      }
    });
  }

  test('only 504s: two POSTs, then failed as OUTCOME_UNKNOWN', async () => {
    const { referrer, buyer } = await oneRecipient();
    twilio.answer = () => ({ status: 504, body: '<html><body>504 Gateway Time-out</body></html>', contentType: 'text/html' });
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '8', WHATSAPP_RETRY_BASE_MS: '20' }));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'failed')).toMatchObject({ attempts: 2, unknownOutcomes: 2, lastErrorCode: 'OUTCOME_UNKNOWN' });
      expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(2);
    } finally {
      await worker.stop();
    }
  });

  test('a 500 with Twilio\'s own error code, then a 201: sent, and the row says a duplicate was possible', async () => {
    const { buyer } = await oneRecipient();
    twilio.answer = (_, index) => (index === 0 ? twilioError(500, 20500, 'Internal Server Error') : accepted());
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_RETRY_BASE_MS: '20' }));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'sent')).toMatchObject({ attempts: 2, unknownOutcomes: 1, lastErrorCode: null });
    } finally {
      await worker.stop();
    }
  });

  test('503 and 429 say the message was not taken: retried up to WHATSAPP_MAX_ATTEMPTS, no unknown outcome', async () => {
    const { referrer, buyer } = await oneRecipient();
    twilio.answer = (_, index) => (index % 2 === 0 ? twilioError(503, 20503, 'Service Unavailable') : twilioError(429, 20429, 'Too Many Requests'));
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '4', WHATSAPP_RETRY_BASE_MS: '20' }));
    try {
      const id = await queueOne(buyer);
      expect(await settledOutcome(id, 'failed')).toMatchObject({ attempts: 4, unknownOutcomes: 0, lastErrorCode: '20429' });
      expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(4);
    } finally {
      await worker.stop();
    }
  });
});

describe('a message goes only to its user\'s current number', () => {
  test('a user who removed their number while the message waited gets nothing: failed as RECIPIENT_REMOVED', async () => {
    const { referrer, buyer } = await oneRecipient();
    const removed = await recipientOf(referrer);
    // Twilio is down: the first try is refused, and the message waits for its retry.
    twilio.answer = (_, index) => (index === 0 ? twilioError(503, 20503, 'Service Unavailable') : accepted());
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_RETRY_BASE_MS: '600000' }));
    try {
      const id = await queueOne(buyer);
      await waitFor('the first try refused', async () => ((await outcomeOf(id)).lastErrorCode === '20503' ? true : undefined));
      await db.sql`UPDATE users SET phone_number = NULL WHERE id = ${referrer}`;
      await db.sql`UPDATE whatsapp_outbox SET next_attempt_at = now() WHERE id = ${id}`;
      await db.sql`NOTIFY whatsapp_outbox`;
      const outcome = await settledOutcome(id, 'failed');
      expect(outcome).toMatchObject({ attempts: 1, lastErrorCode: 'RECIPIENT_REMOVED' });
      expect(twilio.requests.filter(sentTo(removed))).toHaveLength(1);
      const row = onlyRow(await db.sql<{ recipient: string | null }[]>`SELECT recipient FROM whatsapp_outbox WHERE id = ${id}`);
      expect(row.recipient).toBeNull();
    } finally {
      await worker.stop();
    }
  });

  test('a user who changed their number gets the message at the new one, and the row says so', async () => {
    const { referrer, buyer } = await oneRecipient();
    const old = await recipientOf(referrer);
    const id = await queueOne(buyer);
    const changed = `+4930${String(Date.now()).slice(-8)}`;
    await db.sql`UPDATE users SET phone_number = ${changed} WHERE id = ${referrer}`;
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url));
    try {
      await settledOutcome(id, 'sent');
      expect(twilio.requests.filter(sentTo(old))).toEqual([]);
      expect(twilio.requests.filter(sentTo(changed))).toHaveLength(1);
      const row = onlyRow(await db.sql<{ recipient: string }[]>`SELECT recipient FROM whatsapp_outbox WHERE id = ${id}`);
      expect(row.recipient).toBe(changed);
    } finally {
      await worker.stop();
    }
  });

  test('in log mode, a message whose user removed their number is not logged as skipped but failed as RECIPIENT_REMOVED', async () => {
    const { referrer, buyer } = await oneRecipient();
    const id = await queueOne(buyer);
    await db.sql`UPDATE users SET phone_number = NULL WHERE id = ${referrer}`;
    const worker = await startTestWorker(db.url, workerEnvironment(undefined));
    try {
      expect(await settledOutcome(id, 'failed')).toMatchObject({ attempts: 0, lastErrorCode: 'RECIPIENT_REMOVED' });
    } finally {
      await worker.stop();
    }
  });
});

describe('a claim whose lease ran out', () => {
  test('at WHATSAPP_MAX_ATTEMPTS is failed as OUTCOME_UNKNOWN and never sent again', async () => {
    const { buyer } = await oneRecipient();
    const id = await queueOne(buyer);
    // Its worker died while sending the fifth and last attempt.
    await db.sql`
      UPDATE whatsapp_outbox SET status = 'sending', attempts = 5, leased_by = 'a worker that died',
        lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '5' }));
    try {
      const outcome = await settledOutcome(id, 'failed');
      expect(outcome).toMatchObject({ attempts: 5, unknownOutcomes: 1, lastErrorCode: 'OUTCOME_UNKNOWN' });
      expect(outcome.lastErrorMessage).toMatch(/attempt 5 .*may have been sent/);
      expect(twilio.requests).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  test('because its outcome could not be recorded is sent twice at most, then failed as OUTCOME_UNKNOWN', async () => {
    const { referrer, buyer } = await oneRecipient();
    // A proxy that answers every message with the same SID: the second
    // message's "sent" can never be written (twilio_sid is unique).
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const earlier = await queueOne(buyer);
    await db.sql`UPDATE whatsapp_outbox SET status = 'sent', twilio_sid = ${sid} WHERE id = ${earlier}`;
    twilio.answer = () => ({ status: 201, body: { sid } });
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '5', WHATSAPP_LEASE_MS: '300' }));
    try {
      const id = await queueOne(buyer);
      const outcome = await settledOutcome(id, 'failed');
      expect(outcome).toMatchObject({ attempts: 2, unknownOutcomes: 2, twilioSid: null, lastErrorCode: 'OUTCOME_UNKNOWN' });
      expect(twilio.requests.filter(sentTo(await recipientOf(referrer)))).toHaveLength(2);
    } finally {
      await worker.stop();
    }
  });
});
