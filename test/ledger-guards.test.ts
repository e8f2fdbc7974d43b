// The ledger cannot be damaged by hand: TRUNCATE and hand edits of purchases,
// earnings and the seq counters are refused with SQLSTATE 23001, a message
// naming the table and a hint, and leave the ledger as it was. Purchases
// themselves still credit and count as before.

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers, createUser, earningsOfPurchase, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();

/** referrer ← buyer, and a purchase by the buyer that credited the referrer. */
async function creditedPurchase() {
  const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
  return { referrer, buyer, purchaseId: await purchase(db.sql, buyer, '10') };
}

/** Every row of the ledger, as text: equal before and after means untouched. */
async function ledger() {
  return onlyRow(await db.sql<{ users: string; purchases: string; earnings: string; counters: string }[]>`
    SELECT (SELECT string_agg(concat_ws(':', id, referred_by), ',' ORDER BY id) FROM users) AS users,
           (SELECT string_agg(concat_ws(':', id, user_id, amount, created_at, idempotency_key), ',' ORDER BY id) FROM purchases) AS purchases,
           (SELECT string_agg(concat_ws(':', id, user_id, amount, seq), ',' ORDER BY id) FROM earnings) AS earnings,
           (SELECT string_agg(concat_ws(':', user_id, last_seq), ',' ORDER BY user_id) FROM earning_sequences) AS counters`);
}

async function expectRefused(statement: Promise<unknown>, message: string): Promise<void> {
  const before = await ledger();
  await expect(statement).rejects.toMatchObject({ code: '23001', message, hint: expect.stringMatching(/\S/) });
  expect(await ledger()).toEqual(before);
}

describe('TRUNCATE', () => {
  test.each([
    ['TRUNCATE users CASCADE', 'users'],
    ['TRUNCATE purchases CASCADE', 'purchases'],
    ['TRUNCATE earnings CASCADE', 'earnings'],
    ['TRUNCATE earning_sequences', 'earning_sequences'],
    ['TRUNCATE whatsapp_outbox, earnings', 'earnings'],
  ])('%s is refused, naming the table', async (statement, table) => {
    // Rows in every table of the ledger, for the TRUNCATE to lose.
    await creditedPurchase();
    await expectRefused(db.sql.unsafe(statement), `${table} cannot be truncated`);
  });
});

describe('hand edits', () => {
  test('earning_sequences cannot be raised, lowered, inserted or deleted by hand', async () => {
    const { referrer, buyer } = await creditedPurchase();
    const onlyFromTheLedger = 'earning_sequences cannot be inserted or updated directly';
    await expectRefused(db.sql`UPDATE earning_sequences SET last_seq = last_seq + 3 WHERE user_id = ${referrer}`, onlyFromTheLedger);
    await expectRefused(db.sql`UPDATE earning_sequences SET last_seq = 1`, onlyFromTheLedger);
    await expectRefused(db.sql`INSERT INTO earning_sequences (user_id, last_seq) VALUES (${buyer}, 5)`, onlyFromTheLedger);
    await expectRefused(db.sql`DELETE FROM earning_sequences WHERE user_id = ${referrer}`, 'earning_sequences cannot be deleted');
  });

  test('a purchase cannot be deleted, even one that credited nobody', async () => {
    const { purchaseId } = await creditedPurchase();
    const creditedNobody = await purchase(db.sql, await createUser(db.sql), '10');
    await expectRefused(db.sql`DELETE FROM purchases WHERE id = ${purchaseId}`, 'purchases cannot be deleted');
    await expectRefused(db.sql`DELETE FROM purchases WHERE id = ${creditedNobody}`, 'purchases cannot be deleted');
  });

  test('a purchase keeps its id, time, buyer and amount; its idempotency key may be cleared', async () => {
    const { buyer, purchaseId } = await creditedPurchase();
    const root = await createUser(db.sql);
    const creditedNobody = await purchase(db.sql, root, '10');
    const identity = 'purchases cannot change their id or created_at once inserted';
    await expectRefused(db.sql`UPDATE purchases SET id = id + 1000000 WHERE id = ${creditedNobody}`, identity);
    await expectRefused(db.sql`UPDATE purchases SET created_at = created_at - interval '1 day' WHERE id = ${purchaseId}`, identity);
    await expectRefused(db.sql`UPDATE purchases SET user_id = ${root} WHERE id = ${purchaseId}`, 'purchases cannot change their user_id or amount once inserted');

    const keyed = onlyRow(await db.sql<{ id: string }[]>`
      INSERT INTO purchases (user_id, amount, idempotency_key) VALUES (${buyer}, 1, 'order-expired-1') RETURNING id::text`);
    await db.sql`UPDATE purchases SET idempotency_key = NULL WHERE id = ${keyed.id}`;
    expect(await db.sql`SELECT 1 FROM purchases WHERE idempotency_key = 'order-expired-1'`).toHaveLength(0);
  });

  test('earnings still cannot be inserted, updated or deleted by hand (messages unchanged)', async () => {
    const { referrer, buyer, purchaseId } = await creditedPurchase();
    await expectRefused(db.sql`
      INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, seq)
      VALUES (${referrer}, ${buyer}, 3, 0.5, 5, ${purchaseId}, 99)`, 'earnings cannot be inserted directly');
    await expectRefused(db.sql`UPDATE earnings SET amount = 0 WHERE purchase_id = ${purchaseId}`, 'earnings cannot be updated or deleted');
    await expectRefused(db.sql`DELETE FROM earnings WHERE purchase_id = ${purchaseId}`, 'earnings cannot be updated or deleted');
  });
});

describe('purchases still credit through the guarded counters', () => {
  test('a single purchase, a multi-row INSERT and purchases from 4 connections at once each take the next seqs', async () => {
    const { root, referrer: middle, buyer: newBuyer } = await createBuyerWithTwoReferrers(db.sql);
    const single = await purchase(db.sql, newBuyer, '100');
    expect((await earningsOfPurchase(db.sql, single)).map(({ userId, seq }) => ({ userId, seq }))).toEqual([
      { userId: middle, seq: 1 },
      { userId: root, seq: 1 },
    ]);
    await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${newBuyer}, 1), (${middle}, 2), (${newBuyer}, 3)`;

    const pools = [1, 2, 3, 4].map(() => db.connect({ max: 1 }));
    try {
      await Promise.all(pools.map(async (sql) => {
        for (let i = 0; i < 25; i++) await sql`INSERT INTO purchases (user_id, amount) VALUES (${newBuyer}, 1)`;
      }));
    } finally {
      await Promise.all(pools.map((sql) => sql.end()));
    }

    const counters = await db.sql<{ userId: number; lastSeq: number; seqs: number[] }[]>`
      SELECT s.user_id AS "userId", s.last_seq::int AS "lastSeq", array_agg(e.seq::int ORDER BY e.seq) AS seqs
      FROM earning_sequences s JOIN earnings e USING (user_id)
      WHERE s.user_id IN (${root}, ${middle}) GROUP BY s.user_id, s.last_seq ORDER BY s.user_id`;
    // root: 1 + 3 + 100 earnings; middle: 1 + 2 + 100 (the middle's own purchase credits only root).
    expect(counters).toEqual([
      { userId: root, lastSeq: 104, seqs: Array.from({ length: 104 }, (_, i) => i + 1) },
      { userId: middle, lastSeq: 103, seqs: Array.from({ length: 103 }, (_, i) => i + 1) },
    ]);
  });
});
