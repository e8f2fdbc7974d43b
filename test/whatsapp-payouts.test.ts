// WhatsApp messages for paid payouts: marking a payout paid queues one
// message for a user with a phone number, in the same transaction, and the
// worker sends "Your payout 3 of 99.99 INR was paid (reference TX-1)."
// through the same outbox, or its own Content template
// (TWILIO_PAYOUT_CONTENT_SID). Creating, failing or canceling a payout sends
// nothing.

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { contentVariables, messageBody } from '../bridge/src/whatsapp/message.js';
import { useTestDatabase } from './support/database.js';
import { accepted, useFakeTwilio } from './support/fake-twilio.js';
import { createPayouts, setSettings } from './support/payouts.js';
import { purchase } from './support/referrals.js';
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
afterEach(async () => {
  await setSettings(db.sql);
});

const contentSid = `HX${'ab'.repeat(16)}`;
const payoutContentSid = `HX${'ef'.repeat(16)}`;

/** A referrer with a phone number, paid 99.99 by a payout (holding period 0); the purchase's own messages are marked sent. */
async function paidReferrer(currency: string) {
  await setSettings(db.sql, { holdingPeriod: '0', currency });
  const { root, referrer, buyer } = await phoneChain(db.sql);
  await db.sql`UPDATE users SET phone_number = NULL WHERE id = ${root}`;
  await purchase(db.sql, buyer, '1999.99');
  await db.sql`UPDATE whatsapp_outbox SET status = 'skipped' WHERE user_id = ${referrer}`;
  const [payout] = await createPayouts(db.sql, [referrer]);
  return { referrer, payoutId: payout!.id };
}

describe('the outbox', () => {
  test('a paid payout queues one message, in its transaction; a created, failed or canceled one queues none', async () => {
    const { referrer, payoutId } = await paidReferrer('INR');
    expect(await outboxOf(db.sql, [referrer])).toHaveLength(1);
    await db.sql`SELECT mark_payout_paid(${payoutId}::bigint, 'TX-2026-0042')`;
    await db.sql`SELECT mark_payout_paid(${payoutId}::bigint, 'TX-2026-0042')`;
    const rows = await db.sql`
      SELECT o.earning_id, e.type, e.payout_id::text, o.variables, o.status FROM whatsapp_outbox o JOIN payout_events e ON e.id = o.payout_event_id
      WHERE o.user_id = ${referrer}`;
    expect(rows).toEqual([{
      earning_id: null, type: 'payout_paid', payout_id: payoutId, status: 'queued',
      variables: { kind: 'payout', payoutId: Number(payoutId), amount: '99.99', currency: 'INR', reference: 'TX-2026-0042' },
    }]);

    const { referrer: other, payoutId: failing } = await paidReferrer('INR');
    await db.sql`SELECT mark_payout_failed(${failing}::bigint)`;
    const [again] = await createPayouts(db.sql, [other]);
    await db.sql`SELECT cancel_payout(${again!.id}::bigint)`;
    expect(await outboxOf(db.sql, [other])).toHaveLength(1);
  });

  test('a message names one earning or one payout event, never both and never neither', async () => {
    const { referrer } = await paidReferrer('');
    await expect(db.sql`
      INSERT INTO whatsapp_outbox (user_id, recipient, variables) VALUES (${referrer}, '+4915112345678', '{}')`).rejects
      .toMatchObject({ code: '23514', constraint_name: 'whatsapp_outbox_is_about_one_earning_or_payout' });
  });
});

describe('sending', () => {
  test('a paid payout is sent as "Your payout 7 of 99.99 INR was paid (reference …).", in the payout\'s currency', async () => {
    const { referrer, payoutId } = await paidReferrer('INR');
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_CURRENCY: 'EUR' }));
    try {
      await db.sql`SELECT mark_payout_paid(${payoutId}::bigint, 'TX-2026-0042')`;
      await waitFor('the message sent', () => twilio.requests.length === 1);
      expect(twilio.requests[0]!.params).toEqual({
        From: whatsappFrom, To: expect.stringMatching(/^whatsapp:\+49151/), Body: `Your payout ${payoutId} of 99.99 INR was paid (reference TX-2026-0042).`,
      });
      await waitFor('marked sent', async () => (await outboxOf(db.sql, [referrer])).at(-1)?.status === 'sent');
    } finally {
      await worker.stop();
    }
  });

  test('TWILIO_PAYOUT_CONTENT_SID sends it with its own template and variables', async () => {
    const { payoutId } = await paidReferrer('');
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, {
      TWILIO_CONTENT_SID: contentSid, TWILIO_REVERSAL_CONTENT_SID: `HX${'cd'.repeat(16)}`, TWILIO_PAYOUT_CONTENT_SID: payoutContentSid, WHATSAPP_CURRENCY: 'EUR',
    }));
    try {
      await db.sql`SELECT mark_payout_paid(${payoutId}::bigint, 'TX-9')`;
      await waitFor('the message sent', () => twilio.requests.length === 1);
      expect(twilio.requests[0]!.params).toEqual({
        From: whatsappFrom, To: expect.any(String), ContentSid: payoutContentSid,
        ContentVariables: JSON.stringify({ 1: '99.99', 2: 'TX-9', 3: payoutId, 4: 'EUR' }),
      });
      expect(worker.logs.some((line) => line.msg.includes('is not:'))).toBe(false);
    } finally {
      await worker.stop();
    }
  });

  test('with TWILIO_CONTENT_SID alone, the worker says at start that payout messages go out as free-form bodies', async () => {
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { TWILIO_CONTENT_SID: contentSid, TWILIO_REVERSAL_CONTENT_SID: `HX${'cd'.repeat(16)}` }));
    try {
      expect(worker.logs.find((line) => line.msg.includes('TWILIO_PAYOUT_CONTENT_SID is not'))).toMatchObject({ level: 40 });
    } finally {
      await worker.stop();
    }
  });
});

describe('the message text', () => {
  test('a paid payout, with and without a currency of its own, as a body and as template variables', () => {
    const payout = { kind: 'payout' as const, payoutId: 3, amount: '99.99', currency: 'INR', reference: 'TX-1' };
    expect(messageBody(payout, 'EUR')).toBe('Your payout 3 of 99.99 INR was paid (reference TX-1).');
    expect(messageBody({ ...payout, currency: '' }, 'EUR')).toBe('Your payout 3 of 99.99 EUR was paid (reference TX-1).');
    expect(messageBody({ ...payout, currency: '' }, '')).toBe('Your payout 3 of 99.99 was paid (reference TX-1).');
    expect(JSON.parse(contentVariables(payout, 'EUR'))).toEqual({ 1: '99.99', 2: 'TX-1', 3: '3', 4: 'INR' });
  });
});
