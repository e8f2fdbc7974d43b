// WhatsApp notifications through the transactional outbox: every earning of a
// referrer with a phone number becomes one message, sent through Twilio (a
// local fake here) with retries, pacing and honest statuses.

import { beforeEach, describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { accepted, twilioError, useFakeTwilio } from './support/fake-twilio.js';
import { waitFor } from './support/wait.js';
import { outboxOf, phoneChain, startTestWorker, twilioAccount, whatsappFrom, workerEnvironment } from './support/whatsapp.js';

const db = useTestDatabase();
const twilio = useFakeTwilio();
beforeEach(async () => {
  twilio.requests.length = 0;
  twilio.answer = () => accepted();
  // Each test sends its own messages only.
  await db.sql`UPDATE whatsapp_outbox SET status = 'skipped', lease_expires_at = NULL WHERE status IN ('queued', 'sending')`;
});

const settled = (rows: Array<{ status: string }>) => rows.length > 0 && rows.every((row) => !['queued', 'sending'].includes(row.status));

describe('the outbox', () => {
  test('a purchase inserted with plain SQL queues one message per referrer with a phone number, in its transaction', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1000)`;
    const rows = await db.sql<{ userId: number; variables: unknown; status: string }[]>`
      SELECT user_id AS "userId", variables, status FROM whatsapp_outbox WHERE user_id IN (${root}, ${referrer}) ORDER BY id`;
    expect(rows).toEqual([
      { userId: referrer, status: 'queued', variables: { amount: '50.00', level: 1, fromUserId: buyer, purchaseId: expect.any(Number), purchaseAmount: '1000.00' } },
      { userId: root, status: 'queued', variables: { amount: '10.00', level: 2, fromUserId: buyer, purchaseId: expect.any(Number), purchaseAmount: '1000.00' } },
    ]);
  });

  test('a rolled-back purchase queues nothing and sends nothing', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    await db.sql.begin(async (sql) => {
      await sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      throw new Error('roll back');
    }).catch(() => undefined);
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await worker.stop();
    expect(await outboxOf(db.sql, [root, referrer])).toEqual([]);
    expect(twilio.requests).toEqual([]);
  });
});

describe('sending', () => {
  test('a message Twilio accepts is marked sent with its SID, with the documented body, from and to', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_CURRENCY: 'EUR' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 1000)`;
      const rows = await waitFor('both messages sent', async () => {
        const current = await outboxOf(db.sql, [root, referrer]);
        return current.length === 2 && current.every((row) => row.status === 'sent') ? current : undefined;
      });
      expect(rows.map((row) => row.twilioSid)).toEqual([expect.stringMatching(/^SM[0-9a-f]{32}$/), expect.stringMatching(/^SM[0-9a-f]{32}$/)]);
      const recipientOf = new Map(rows.map((row) => [row.userId, `whatsapp:${row.recipient}`]));
      const byBody = (a: { Body?: string }, b: { Body?: string }) => (a.Body ?? '').localeCompare(b.Body ?? '');
      expect(twilio.requests.map((request) => request.params).sort(byBody)).toEqual([
        { From: whatsappFrom, To: recipientOf.get(root), Body: `You earned 10.00 EUR (level 2) from a purchase by user ${buyer}.` },
        { From: whatsappFrom, To: recipientOf.get(referrer), Body: `You earned 50.00 EUR (level 1) from a purchase by user ${buyer}.` },
      ]);
      for (const request of twilio.requests) {
        expect(request.path).toBe(`/2010-04-01/Accounts/${twilioAccount.sid}/Messages.json`);
        expect(request.authorization).toBe(`Basic ${Buffer.from(`${twilioAccount.sid}:${twilioAccount.token}`).toString('base64')}`);
      }
    } finally {
      await worker.stop();
    }
  });

  test('template mode sends contentSid and contentVariables instead of a body', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    const contentSid = `HX${'ab'.repeat(16)}`;
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { TWILIO_CONTENT_SID: contentSid }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 20)`;
      await waitFor('two requests', () => twilio.requests.length === 2);
      const request = twilio.requests.find((candidate) => JSON.parse(candidate.params.ContentVariables ?? '{}')['2'] === '1');
      expect(request?.params).toEqual({ From: whatsappFrom, To: expect.stringMatching(/^whatsapp:\+/), ContentSid: contentSid, ContentVariables: JSON.stringify({ 1: '1.00', 2: '1', 3: String(buyer), 4: '' }) });
      await waitFor('sent', async () => settled(await outboxOf(db.sql, [referrer])));
    } finally {
      await worker.stop();
    }
  });

  test('a 429 is retried after a backoff, then succeeds', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    await db.sql`UPDATE users SET phone_number = NULL WHERE id <> ${referrer}`;
    twilio.answer = (_, index) => (index === 0 ? twilioError(429, 20429, 'Too Many Requests') : accepted());
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_RETRY_BASE_MS: '200' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      const [row] = await waitFor('sent after a retry', async () => {
        const rows = await outboxOf(db.sql, [referrer]);
        return rows[0]?.status === 'sent' ? rows : undefined;
      });
      expect(row).toMatchObject({ status: 'sent', attempts: 2, lastErrorCode: null });
      expect(twilio.requests).toHaveLength(2);
      // After attempt 1 the wait is between half and all of 200 ms × 2.
      const [first, retry] = twilio.requests;
      expect(first && retry && retry.at - first.at).toBeGreaterThanOrEqual(200);
    } finally {
      await worker.stop();
    }
  });

  test('repeated 503s end in failed after WHATSAPP_MAX_ATTEMPTS', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    twilio.answer = () => twilioError(503, 20503, 'Service Unavailable');
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '3', WHATSAPP_RETRY_BASE_MS: '20' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      const [row] = await waitFor('failed', async () => {
        const rows = await outboxOf(db.sql, [referrer]);
        return rows[0]?.status === 'failed' ? rows : undefined;
      });
      expect(row).toMatchObject({ status: 'failed', attempts: 3, lastErrorCode: '20503', twilioSid: null });
      expect(twilio.requests.filter((request) => request.params.Body?.includes('level 1'))).toHaveLength(3);
    } finally {
      await worker.stop();
    }
  });

  test('21211 (invalid number) is undeliverable at once, with its code stored', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    twilio.answer = () => twilioError(400, 21211, "The 'To' number is not a valid phone number.");
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      const [row] = await waitFor('undeliverable', async () => {
        const rows = await outboxOf(db.sql, [referrer]);
        return rows[0]?.status === 'undeliverable' ? rows : undefined;
      });
      expect(row).toMatchObject({ attempts: 1, lastErrorCode: '21211' });
    } finally {
      await worker.stop();
    }
  });

  test('a hanging request times out and is retried', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    await db.sql`UPDATE users SET phone_number = NULL WHERE id <> ${referrer}`;
    twilio.answer = (_, index) => (index === 0 ? 'hang' : accepted());
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { TWILIO_TIMEOUT_MS: '300' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      const [row] = await waitFor('sent after a timeout', async () => {
        const rows = await outboxOf(db.sql, [referrer]);
        return rows[0]?.status === 'sent' ? rows : undefined;
      });
      expect(row?.attempts).toBe(2);
      expect(twilio.requests).toHaveLength(2);
    } finally {
      await worker.stop();
    }
  });

  test('an error code we do not know is retried a bounded number of times, then failed', async () => {
    const { referrer, buyer } = await phoneChain(db.sql);
    twilio.answer = () => twilioError(400, 12345, 'Something new');
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '8', WHATSAPP_RETRY_BASE_MS: '20' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      const [row] = await waitFor('failed', async () => {
        const rows = await outboxOf(db.sql, [referrer]);
        return rows[0]?.status === 'failed' ? rows : undefined;
      });
      expect(row).toMatchObject({ attempts: 3, lastErrorCode: '12345' });
    } finally {
      await worker.stop();
    }
  });

  test('at most TWILIO_MAX_MPS messages leave per second', async () => {
    const chains = await Promise.all(Array.from({ length: 10 }, () => phoneChain(db.sql)));
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { TWILIO_MAX_MPS: '10', WHATSAPP_CONCURRENCY: '20' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT buyer, 1 FROM unnest(${chains.map((chain) => chain.buyer)}::int[]) AS buyer`;
      await waitFor('20 requests', () => twilio.requests.length === 20, 20_000);
      // No 0.9 s up to any request holds more than 10 requests: never more than 10 in one second.
      const times = twilio.requests.map((request) => request.at);
      for (const end of times) expect(times.filter((time) => time > end - 900 && time <= end).length).toBeLessThanOrEqual(10);
    } finally {
      await worker.stop();
    }
  });

  test('two workers never send the same message', async () => {
    const chains = await Promise.all(Array.from({ length: 50 }, () => phoneChain(db.sql)));
    const workers = await Promise.all([1, 2].map(() => startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_CONCURRENCY: '5' }))));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) SELECT buyer, 1 FROM unnest(${chains.map((chain) => chain.buyer)}::int[]) AS buyer, generate_series(1, 2)`;
      const users = chains.flatMap((chain) => [chain.root, chain.referrer]);
      const rows = await waitFor('200 messages sent', async () => {
        const current = await outboxOf(db.sql, users);
        return current.length === 200 && settled(current) ? current : undefined;
      }, 30_000);
      expect(rows.every((row) => row.status === 'sent' && row.attempts === 1)).toBe(true);
      expect(twilio.requests).toHaveLength(200);
      expect(new Set(rows.map((row) => row.twilioSid)).size).toBe(200);
      const sentBy = await Promise.all(workers.map(async (worker) => worker.logs.filter((line) => line.msg === 'WhatsApp message sent').length));
      expect(sentBy.reduce((a, b) => a + b, 0)).toBe(200);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
  });
});

describe('log mode', () => {
  test('without Twilio credentials each message is logged with the phone masked and marked skipped', async () => {
    const { root, referrer, buyer } = await phoneChain(db.sql);
    const worker = await startTestWorker(db.url, workerEnvironment(undefined));
    try {
      expect(worker.logs.some((line) => line.msg.includes('LOG MODE'))).toBe(true);
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      const rows = await waitFor('skipped', async () => {
        const current = await outboxOf(db.sql, [root, referrer]);
        return current.length === 2 && current.every((row) => row.status === 'skipped') ? current : undefined;
      });
      const lines = worker.logs.filter((line) => line.msg.startsWith('WhatsApp (log mode, not sent)'));
      expect(lines).toHaveLength(2);
      for (const row of rows) {
        const line = lines.find((candidate) => candidate.userId === row.userId);
        expect(line?.to).toBe(`${row.recipient.slice(0, 6)}${'*'.repeat(row.recipient.length - 9)}${row.recipient.slice(-3)}`);
        expect(JSON.stringify(worker.logs)).not.toContain(row.recipient);
      }
      expect(twilio.requests).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  test('credentials never appear in the logs', async () => {
    const { buyer } = await phoneChain(db.sql);
    twilio.answer = () => twilioError(401, 20003, 'Authenticate');
    const worker = await startTestWorker(db.url, workerEnvironment(twilio.url, { WHATSAPP_MAX_ATTEMPTS: '1' }));
    try {
      await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      await waitFor('failures logged', () => worker.logs.filter((line) => String(line.msg).startsWith('WhatsApp message failed')).length === 2);
      expect(JSON.stringify(worker.logs)).not.toContain(twilioAccount.token);
      expect(JSON.stringify(worker.logs)).not.toContain(Buffer.from(`${twilioAccount.sid}:${twilioAccount.token}`).toString('base64'));
    } finally {
      await worker.stop();
    }
  });
});
