// WhatsApp messages for reversals: a refund that takes back a commission from
// a referrer with a phone number queues one message per reversal, in the
// refund's own transaction, and the worker sends "A refund of purchase 7 took
// back 12.50 (level 1)." through the same outbox, or its own Content
// template (TWILIO_REVERSAL_CONTENT_SID).

import { beforeEach, describe, expect, test } from 'vitest';
import { contentVariables, messageBody } from '../bridge/src/whatsapp/message.js';
import { useTestDatabase } from './support/database.js';
import { accepted, useFakeTwilio } from './support/fake-twilio.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';
import { outboxOf, phoneChain, startTestWorker, whatsappFrom, workerEnvironment } from './support/whatsapp.js';

const db = useTestDatabase();
const twilio = useFakeTwilio();
beforeEach(async () => {
  twilio.requests.length = 0;
  twilio.answer = () => accepted();
  // Each test sends its own messages only.
  await db.sql`UPDATE whatsapp_outbox SET status = 'skipped', lease_expires_at = NULL WHERE status IN ('queued', 'sending')`;
});

/** A purchase of `amount` by the chain's buyer, with plain SQL; returns its id. */
async function purchaseOf(buyer: number, amount: string): Promise<number> {
  return Number(onlyRow(await db.sql<{ id: string }[]>`
    INSERT INTO purchases (user_id, amount) VALUES (${buyer}, ${amount}) RETURNING id::text`).id);
}

async function refundOf(purchaseId: number, amount: string): Promise<number> {
  return Number(onlyRow(await db.sql<{ id: string }[]>`
    INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, ${amount}) RETURNING id::text`).id);
}

const contentSid = `HX${'ab'.repeat(16)}`;
const reversalContentSid = `HX${'cd'.repeat(16)}`;

describe('the outbox', () => {
  test('a refund inserted with plain SQL queues one message per reversal of a referrer with a phone number, in its transaction', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    const purchaseId = await purchaseOf(buyer, '1000');
    const refundId = await refundOf(purchaseId, '250.00');
    const rows = await db.sql<{ userId: number; variables: unknown; status: string; reversal: boolean }[]>`
      SELECT o.user_id AS "userId", o.variables, o.status, e.refund_id IS NOT NULL AS reversal
      FROM whatsapp_outbox o JOIN earnings e ON e.id = o.earning_id
      WHERE o.user_id IN (${root}, ${referrer}) AND e.refund_id IS NOT NULL ORDER BY o.id`;
    expect(rows).toEqual([
      { userId: referrer, status: 'queued', reversal: true, variables: {
        kind: 'reversal', amount: '12.50', level: 1, fromUserId: buyer, purchaseId, purchaseAmount: '1000.00', refundId, refundAmount: '250.00' } },
      { userId: root, status: 'queued', reversal: true, variables: {
        kind: 'reversal', amount: '2.50', level: 2, fromUserId: buyer, purchaseId, purchaseAmount: '1000.00', refundId, refundAmount: '250.00' } },
    ]);
  });

  test('a refused refund queues nothing', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    const purchaseId = await purchaseOf(buyer, '10');
    const before = await outboxOf(db.sql, [root, referrer]);
    await expect(refundOf(purchaseId, '10.01')).rejects.toMatchObject({ constraint_name: 'refunds_do_not_exceed_the_purchase' });
    expect(await outboxOf(db.sql, [root, referrer])).toEqual(before);
  });
});

describe('sending', () => {
  test('a reversal is sent as "A refund of purchase 7 took back 12.50 (level 1).", with the currency label', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    const purchaseId = await purchaseOf(buyer, '1000');
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_CURRENCY: 'EUR' }));
    try {
      await waitFor('the two earnings sent', () => twilio.requests.length === 2);
      await refundOf(purchaseId, '250.00');
      await waitFor('the two reversals sent', () => twilio.requests.length === 4);
      expect(twilio.requests.slice(2).map((request) => request.params).sort((a, b) => a.Body!.localeCompare(b.Body!))).toEqual([
        { From: whatsappFrom, To: expect.stringMatching(/^whatsapp:\+49151/), Body: `A refund of purchase ${purchaseId} took back 12.50 EUR (level 1).` },
        { From: whatsappFrom, To: expect.stringMatching(/^whatsapp:\+49151/), Body: `A refund of purchase ${purchaseId} took back 2.50 EUR (level 2).` },
      ]);
      await waitFor('every message marked sent', async () => {
        const rows = await outboxOf(db.sql, [root, referrer]);
        return rows.length === 4 && rows.every((row) => row.status === 'sent');
      });
    } finally {
      await worker.stop();
    }
  });

  test('TWILIO_REVERSAL_CONTENT_SID sends reversals with their own template and variables; earnings keep TWILIO_CONTENT_SID', async () => {
    const { root, buyer } = await phoneChain(db.sql);
    await db.sql`UPDATE users SET phone_number = NULL WHERE id = ${root}`;
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, {
      TWILIO_CONTENT_SID: contentSid, TWILIO_REVERSAL_CONTENT_SID: reversalContentSid, WHATSAPP_CURRENCY: 'EUR',
    }));
    try {
      const purchaseId = await purchaseOf(buyer, '20');
      await refundOf(purchaseId, '20');
      await waitFor('two requests', () => twilio.requests.length === 2);
      expect(twilio.requests.map((request) => request.params).sort((a, b) => a.ContentSid!.localeCompare(b.ContentSid!))).toEqual([
        { From: whatsappFrom, To: expect.any(String), ContentSid: contentSid, ContentVariables: JSON.stringify({ 1: '1.00', 2: '1', 3: String(buyer), 4: 'EUR' }) },
        { From: whatsappFrom, To: expect.any(String), ContentSid: reversalContentSid, ContentVariables: JSON.stringify({ 1: '1.00', 2: '1', 3: String(purchaseId), 4: 'EUR', 5: '20.00' }) },
      ]);
      expect(worker.logs.some((line) => line.msg.includes('TWILIO_REVERSAL_CONTENT_SID'))).toBe(false);
    } finally {
      await worker.stop();
    }
  });

  test('with TWILIO_CONTENT_SID alone, reversals go out as free-form bodies and the worker says so at start', async () => {
    const { root, buyer } = await phoneChain(db.sql);
    await db.sql`UPDATE users SET phone_number = NULL WHERE id = ${root}`;
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { TWILIO_CONTENT_SID: contentSid }));
    try {
      expect(worker.logs.find((line) => line.msg.includes('TWILIO_REVERSAL_CONTENT_SID is not'))).toMatchObject({ level: 40 });
      const purchaseId = await purchaseOf(buyer, '20');
      await refundOf(purchaseId, '5');
      await waitFor('two requests', () => twilio.requests.length === 2);
      const reversal = twilio.requests.find((request) => request.params.Body !== undefined);
      expect(reversal?.params).toEqual({ From: whatsappFrom, To: expect.any(String), Body: `A refund of purchase ${purchaseId} took back 0.25 (level 1).` });
    } finally {
      await worker.stop();
    }
  });

  test('in log mode a reversal is logged with its text and marked skipped', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    const purchaseId = await purchaseOf(buyer, '100');
    await refundOf(purchaseId, '100');
    const worker = await startTestWorker(db.url, workerEnvironment(undefined));
    try {
      await waitFor('the reversal logged', () =>
        worker.logs.some((line) => line.msg === `WhatsApp (log mode, not sent): A refund of purchase ${purchaseId} took back 5.00 (level 1).`));
      await waitFor('all skipped', async () => (await outboxOf(db.sql, [referrer])).every((row) => row.status === 'skipped'));
    } finally {
      await worker.stop();
    }
  });
});

describe('the message text', () => {
  test('an earning and a reversal, with and without a currency, as a body and as template variables', () => {
    const earning = { amount: '50.00', level: 1, fromUserId: 4, purchaseId: 7, purchaseAmount: '1000.00' };
    const reversal = { ...earning, kind: 'reversal' as const, amount: '12.50', refundId: 3, refundAmount: '250.00' };
    expect(messageBody(earning, '')).toBe('You earned 50.00 (level 1) from a purchase by user 4.');
    expect(messageBody(reversal, '')).toBe('A refund of purchase 7 took back 12.50 (level 1).');
    expect(messageBody(reversal, 'EUR')).toBe('A refund of purchase 7 took back 12.50 EUR (level 1).');
    expect(JSON.parse(contentVariables(reversal, 'EUR'))).toEqual({ 1: '12.50', 2: '1', 3: '7', 4: 'EUR', 5: '250.00' });
    expect(JSON.parse(contentVariables(earning, 'EUR'))).toEqual({ 1: '50.00', 2: '1', 3: '4', 4: 'EUR' });
  });
});
