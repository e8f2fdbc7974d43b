// A refund inserted with plain SQL takes back the commissions of its purchase
// at every level, exactly, as reversal rows appended to the ledger; a purchase
// is never refunded beyond its amount; and refunds and reversals are as
// append-only as the rest of the ledger.

import { parseEarningsNotification } from '../bridge/src/feed/notification.js';
import { describe, expect, test } from 'vitest';
import { useTestDatabase, type Sql } from './support/database.js';
import { createBuyerWithTwoReferrers, createUser, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();

/** Inserts a refund with plain SQL (amount null: whatever is left); returns its id. */
async function refund(sql: Sql, purchaseId: string, amount: string | null): Promise<string> {
  return onlyRow(await sql<{ id: string }[]>`
    INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, ${amount}) RETURNING id::text`).id;
}

async function reversalsOf(sql: Sql, refundId: string) {
  return sql<{ userId: number; sourceUserId: number; level: number; rate: string; amount: string; purchaseId: string; reverses: string; seq: number }[]>`
    SELECT user_id AS "userId", source_user_id AS "sourceUserId", level, rate::text, amount::text,
           purchase_id::text AS "purchaseId", reverses_earning_id::text AS reverses, seq::int AS seq
    FROM earnings WHERE refund_id = ${refundId} ORDER BY level`;
}

/** A user's total, as the API writes it. */
async function totalOf(sql: Sql, userId: number): Promise<string> {
  return onlyRow(await sql<{ total: string }[]>`
    SELECT decimal_text(coalesce(sum(amount), 0)) AS total FROM earnings WHERE user_id = ${userId}`).total;
}

async function creditIds(sql: Sql, purchaseId: string): Promise<string[]> {
  return (await sql<{ id: string }[]>`
    SELECT id::text FROM earnings WHERE purchase_id = ${purchaseId} AND refund_id IS NULL ORDER BY level`).map((row) => row.id);
}

/** Everything a refund of the purchase could have written, as text: equal before and after means nothing was. */
async function refundTraces(sql: Sql, purchaseId: string) {
  return onlyRow(await sql<{ refunds: string | null; reversals: string | null; total: string | null; counters: string | null; outbox: string | null }[]>`
    SELECT (SELECT string_agg(concat_ws(':', id, amount), ',' ORDER BY id) FROM refunds WHERE purchase_id = ${purchaseId}) AS refunds,
           (SELECT string_agg(concat_ws(':', id, amount, seq), ',' ORDER BY id) FROM earnings WHERE purchase_id = ${purchaseId} AND refund_id IS NOT NULL) AS reversals,
           (SELECT refunded::text FROM purchase_refund_totals WHERE purchase_id = ${purchaseId}) AS total,
           (SELECT string_agg(concat_ws(':', user_id, last_seq), ',' ORDER BY user_id) FROM earning_sequences
             WHERE user_id IN (SELECT user_id FROM earnings WHERE purchase_id = ${purchaseId})) AS counters,
           (SELECT count(*)::text FROM whatsapp_outbox o JOIN earnings e ON e.id = o.earning_id WHERE e.purchase_id = ${purchaseId}) AS outbox`);
}

describe('a refund takes back the commissions at every level, exactly', () => {
  test('a full refund nets both levels to exactly 0.00', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    const [level1Credit, level2Credit] = await creditIds(db.sql, purchaseId);
    const refundId = await refund(db.sql, purchaseId, '1000');

    expect(await reversalsOf(db.sql, refundId)).toEqual([
      { userId: referrer, sourceUserId: buyer, level: 1, rate: '0.05', amount: '-50.00', purchaseId, reverses: level1Credit, seq: 2 },
      { userId: root, sourceUserId: buyer, level: 2, rate: '0.01', amount: '-10.00', purchaseId, reverses: level2Credit, seq: 2 },
    ]);
    expect(await totalOf(db.sql, referrer)).toBe('0.00');
    expect(await totalOf(db.sql, root)).toBe('0.00');
  });

  test('a full refund of 1999.99 (odd cents) nets 99.9995 at 5% and 19.9999 at 1% to exactly 0.00', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1999.99');
    const refundId = await refund(db.sql, purchaseId, '1999.99');
    expect((await reversalsOf(db.sql, refundId)).map((reversal) => reversal.amount)).toEqual(['-99.9995', '-19.9999']);
    expect(await totalOf(db.sql, referrer)).toBe('0.00');
    expect(await totalOf(db.sql, root)).toBe('0.00');
  });

  test('1999.99 refunded as 0.01 + 999.99 + 999.99 is taken back in three exact parts that net to 0.00', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1999.99');
    const parts = [];
    for (const amount of ['0.01', '999.99', '999.99']) {
      parts.push((await reversalsOf(db.sql, await refund(db.sql, purchaseId, amount))).map((reversal) => reversal.amount));
    }
    expect(parts).toEqual([['-0.0005', '-0.0001'], ['-49.9995', '-9.9999'], ['-49.9995', '-9.9999']]);
    expect(await totalOf(db.sql, referrer)).toBe('0.00');
    expect(await totalOf(db.sql, root)).toBe('0.00');
    expect(onlyRow(await db.sql`SELECT refunded::text FROM purchase_refund_totals WHERE purchase_id = ${purchaseId}`)).toEqual({ refunded: '1999.99' });
  });

  test('a partial refund nets proportionally: 250.00 of 1000 leaves 37.50 and 7.50', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    const refundId = await refund(db.sql, purchaseId, '250.00');
    expect((await reversalsOf(db.sql, refundId)).map((reversal) => reversal.amount)).toEqual(['-12.50', '-2.50']);
    expect(await totalOf(db.sql, referrer)).toBe('37.50');
    expect(await totalOf(db.sql, root)).toBe('7.50');
  });

  test('a refund inserted without an amount refunds whatever is left of the purchase', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    await refund(db.sql, purchaseId, '250.00');
    const rest = onlyRow(await db.sql<{ id: string; amount: string }[]>`
      INSERT INTO refunds (purchase_id) VALUES (${purchaseId}) RETURNING id::text, amount::text`);
    expect(rest.amount).toBe('750.00');
    expect((await reversalsOf(db.sql, rest.id)).map((reversal) => reversal.amount)).toEqual(['-37.50', '-7.50']);
    expect(await totalOf(db.sql, referrer)).toBe('0.00');
  });

  test('a reversal uses the rate its earning recorded, even after the rate changed', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    await db.sql`UPDATE referral_rates SET rate = 0.07 WHERE level = 1`;
    try {
      const refundId = await refund(db.sql, purchaseId, '100');
      expect((await reversalsOf(db.sql, refundId))[0]).toMatchObject({ userId: referrer, rate: '0.05', amount: '-5.00' });
    } finally {
      await db.sql`UPDATE referral_rates SET rate = 0.05 WHERE level = 1`;
    }
  });

  test('a reversal takes back from the referrer who was credited, even after the buyer changed referrer', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    const newReferrer = await createUser(db.sql);
    await db.sql`UPDATE users SET referred_by = ${newReferrer} WHERE id = ${buyer}`;
    const refundId = await refund(db.sql, purchaseId, '1000');
    expect((await reversalsOf(db.sql, refundId)).map((reversal) => reversal.userId)).toEqual([referrer, root]);
    expect(await totalOf(db.sql, newReferrer)).toBe('0.00');
  });

  test('a refund of a purchase that credited nobody is accepted and creates no reversal', async () => {
    const rootBuyer = await createUser(db.sql);
    const purchaseId = await purchase(db.sql, rootBuyer, '80');
    const refundId = await refund(db.sql, purchaseId, '30');
    expect(await reversalsOf(db.sql, refundId)).toEqual([]);
    expect(onlyRow(await db.sql`SELECT refunded::text FROM purchase_refund_totals WHERE purchase_id = ${purchaseId}`)).toEqual({ refunded: '30' });
    await expect(refund(db.sql, purchaseId, '50.01')).rejects.toMatchObject({ constraint_name: 'refunds_do_not_exceed_the_purchase' });
  });

  test('a refund in the same statement as its purchase, ahead of the credits, is refused; after them, it reverses them', async () => {
    const { buyer, referrer, root } = await createBuyerWithTwoReferrers(db.sql);
    const nextId = async () => onlyRow(await db.sql<{ id: string }[]>`SELECT nextval('purchases_id_seq')::text AS id`).id;
    const refusedEarly = (id: string) => ({
      code: '55000',
      message: `purchase ${id} was refunded before its commissions were credited`,
      hint: expect.stringContaining('in a statement of its own'),
    });
    // The refund in the WITH clause runs before the purchase's credits are written.
    const early = await nextId();
    await expect(db.sql`
      WITH r AS (INSERT INTO refunds (purchase_id, amount) VALUES (${early}, 1000) RETURNING id)
      INSERT INTO purchases (id, user_id, amount) SELECT ${early}, ${buyer}, 1000 FROM r`).rejects.toMatchObject(refusedEarly(early));
    // So does a refund in a function the statement calls, whatever the session has set.
    const inFunction = await nextId();
    await db.sql`CREATE FUNCTION pg_temp.refund_now(purchase bigint) RETURNS bigint LANGUAGE sql AS
      'INSERT INTO refunds (purchase_id, amount) VALUES (purchase, 1000) RETURNING id'`;
    await expect(db.sql`
      WITH p AS (INSERT INTO purchases (id, user_id, amount) VALUES (${inFunction}, ${buyer}, 1000) RETURNING id)
      SELECT pg_temp.refund_now(id) FROM p`).rejects.toMatchObject(refusedEarly(inFunction));
    expect(await db.sql`SELECT FROM purchases WHERE id IN (${early}, ${inFunction})`).toHaveLength(0);
    // The purchase in the WITH clause is credited first, and the refund reverses it.
    const late = await nextId();
    await db.sql`
      WITH p AS (INSERT INTO purchases (id, user_id, amount) VALUES (${late}, ${buyer}, 1000) RETURNING id)
      INSERT INTO refunds (purchase_id, amount) SELECT id, 1000 FROM p`;
    expect(await db.sql`SELECT user_id AS "userId", amount::text FROM earnings WHERE purchase_id = ${late} ORDER BY id`).toEqual([
      { userId: referrer, amount: '50.00' }, { userId: root, amount: '10.00' },
      { userId: referrer, amount: '-50.00' }, { userId: root, amount: '-10.00' },
    ]);
    // A refund of an earlier purchase inside a purchases statement is no concern of the rule.
    const earlier = await purchase(db.sql, buyer, '10');
    await db.sql`WITH r AS (INSERT INTO refunds (purchase_id, amount) VALUES (${earlier}, 10) RETURNING id)
      INSERT INTO purchases (user_id, amount) SELECT ${buyer}, 5 FROM r`;
    expect(onlyRow(await db.sql`SELECT refunded::text FROM purchase_refund_totals WHERE purchase_id = ${earlier}`)).toEqual({ refunded: '10' });
  });

  test('one INSERT of refunds of several purchases reverses each, and numbers each beneficiary\'s reversals in refund order', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const first = await purchase(db.sql, buyer, '100');
    const second = await purchase(db.sql, buyer, '300');
    const refunds = await db.sql<{ id: string }[]>`
      INSERT INTO refunds (purchase_id, amount) VALUES (${second}, 300), (${first}, 40), (${first}, 60) RETURNING id::text`;
    const reversals = await db.sql<{ refundId: string; userId: number; amount: string; seq: number }[]>`
      SELECT refund_id::text AS "refundId", user_id AS "userId", amount::text, seq::int AS seq
      FROM earnings WHERE refund_id = ANY(${refunds.map((row) => row.id)}::bigint[]) ORDER BY id`;
    const [refundOfSecond, refundOfFirst40, refundOfFirst60] = refunds.map((row) => row.id);
    expect(reversals).toEqual([
      { refundId: refundOfSecond, userId: referrer, amount: '-15.00', seq: 3 },
      { refundId: refundOfSecond, userId: root, amount: '-3.00', seq: 3 },
      { refundId: refundOfFirst40, userId: referrer, amount: '-2.00', seq: 4 },
      { refundId: refundOfFirst40, userId: root, amount: '-0.40', seq: 4 },
      { refundId: refundOfFirst60, userId: referrer, amount: '-3.00', seq: 5 },
      { refundId: refundOfFirst60, userId: root, amount: '-0.60', seq: 5 },
    ]);
    expect(await totalOf(db.sql, referrer)).toBe('0.00');
  });

  test('seq stays gap-free per user across credits and reversals, and the counter says the last one', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const otherBuyer = await createUser(db.sql, root);
    const a = await purchase(db.sql, buyer, '100');
    await refund(db.sql, a, '10');
    const b = await purchase(db.sql, otherBuyer, '50');
    await refund(db.sql, a, null);
    await refund(db.sql, b, '50');
    await purchase(db.sql, buyer, '20');
    const seqs = await db.sql<{ userId: number; seqs: number[]; lastSeq: number }[]>`
      SELECT e.user_id AS "userId", array_agg(e.seq::int ORDER BY e.id) AS seqs, max(s.last_seq)::int AS "lastSeq"
      FROM earnings e JOIN earning_sequences s USING (user_id)
      WHERE e.user_id IN (${root}, ${referrer}) GROUP BY e.user_id ORDER BY e.user_id`;
    expect(seqs).toEqual([
      { userId: root, seqs: [1, 2, 3, 4, 5, 6], lastSeq: 6 },
      { userId: referrer, seqs: [1, 2, 3, 4], lastSeq: 4 },
    ]);
  });
});

describe('a purchase is never refunded beyond its amount', () => {
  test('a refund above what is left is refused, naming what is left, and nothing is written', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    await refund(db.sql, purchaseId, '750');
    const before = await refundTraces(db.sql, purchaseId);
    await expect(refund(db.sql, purchaseId, '250.01')).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'refunds_do_not_exceed_the_purchase',
      message: `a refund of 250.01 would exceed purchase ${purchaseId}: 250.00 of its 1000.00 is left to refund`,
      hint: expect.stringMatching(/\S/),
    });
    expect(await refundTraces(db.sql, purchaseId)).toEqual(before);
    await refund(db.sql, purchaseId, '250.00');
  });

  test('refunds in one statement that together exceed the purchase are refused together', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100');
    const before = await refundTraces(db.sql, purchaseId);
    await expect(db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 60), (${purchaseId}, 40.01)`).rejects
      .toMatchObject({ message: `refunds of 100.01 would exceed purchase ${purchaseId}: 100.00 of its 100.00 is left to refund` });
    expect(await refundTraces(db.sql, purchaseId)).toEqual(before);
  });

  test('refunding what is left of a purchase refunded in full is refused', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '10');
    await refund(db.sql, purchaseId, null);
    const before = await refundTraces(db.sql, purchaseId);
    await expect(refund(db.sql, purchaseId, null)).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'refunds_do_not_exceed_the_purchase',
      message: `purchase ${purchaseId} has nothing left to refund: all 10.00 of it was refunded`,
    });
    await expect(refund(db.sql, purchaseId, '0.01')).rejects.toMatchObject({ constraint_name: 'refunds_do_not_exceed_the_purchase' });
    expect(await refundTraces(db.sql, purchaseId)).toEqual(before);
  });

  test.each([
    ['0', 'refunds_amount_is_positive'],
    ['-5', 'refunds_amount_is_positive'],
    ['-Infinity', 'refunds_amount_is_positive'],
    ['1.005', 'refunds_amount_has_at_most_2_decimals'],
    ['NaN', 'refunds_amount_is_a_number'],
    ['Infinity', 'refunds_amount_is_at_most_999999999999_99'],
    ['1000000000000', 'refunds_amount_is_at_most_999999999999_99'],
  ])('an amount of %s is refused (%s), never rounded', async (amount, constraint) => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '10');
    await expect(refund(db.sql, purchaseId, amount)).rejects.toMatchObject({ code: '23514', constraint_name: constraint });
    expect(await refundTraces(db.sql, purchaseId)).toMatchObject({ refunds: null, total: null });
  });

  test('a refund of a purchase that does not exist is refused, with or without an amount', async () => {
    const missing = '9000000000000000001';
    await expect(refund(db.sql, missing, '5')).rejects.toMatchObject({ code: '23503', constraint_name: 'refunds_purchase_id_fkey' });
    await expect(refund(db.sql, missing, null)).rejects
      .toMatchObject({ code: '23503', constraint_name: 'refunds_purchase_id_fkey', message: `purchase ${missing} does not exist` });
  });

  test('a reason is optional and at most 500 characters; an idempotency key is 1-200 visible ASCII characters and unique', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '10');
    await db.sql`INSERT INTO refunds (purchase_id, amount, reason, idempotency_key) VALUES (${purchaseId}, 1, ${'é'.repeat(500)}, 'refund-sql-1')`;
    await expect(db.sql`INSERT INTO refunds (purchase_id, amount, reason) VALUES (${purchaseId}, 1, ${'x'.repeat(501)})`).rejects
      .toMatchObject({ code: '23514', constraint_name: 'refunds_reason_is_at_most_500_characters' });
    for (const key of ['', 'a key', 'k'.repeat(201)]) {
      await expect(db.sql`INSERT INTO refunds (purchase_id, amount, idempotency_key) VALUES (${purchaseId}, 1, ${key})`).rejects
        .toMatchObject({ code: '23514', constraint_name: 'refunds_idempotency_key_is_visible_ascii' });
    }
    await expect(db.sql`INSERT INTO refunds (purchase_id, amount, idempotency_key) VALUES (${purchaseId}, 1, 'refund-sql-1')`).rejects
      .toMatchObject({ code: '23505', constraint_name: 'refunds_idempotency_key_key' });
  });
});

describe('refunds and reversals are append-only', () => {
  test('reversals cannot be inserted, updated or deleted by hand', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100');
    const refundId = await refund(db.sql, purchaseId, '10');
    const [credit] = await creditIds(db.sql, purchaseId);
    await expect(db.sql`
      INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, refund_id, reverses_earning_id, seq)
      VALUES (${referrer}, ${buyer}, 1, 0.05, -4.50, ${purchaseId}, ${refundId}, ${credit!}, 99)`).rejects
      .toMatchObject({ code: '23001', message: 'earnings cannot be inserted directly' });
    await expect(db.sql`UPDATE earnings SET amount = -0.01 WHERE refund_id = ${refundId}`).rejects
      .toMatchObject({ code: '23001', message: 'earnings cannot be updated or deleted' });
    await expect(db.sql`DELETE FROM earnings WHERE refund_id = ${refundId}`).rejects
      .toMatchObject({ code: '23001', message: 'earnings cannot be updated or deleted' });
    expect((await reversalsOf(db.sql, refundId)).map((reversal) => reversal.amount)).toEqual(['-0.50', '-0.10']);
  });

  test('a refund cannot be changed or deleted; its idempotency key may be cleared', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100');
    const refundId = onlyRow(await db.sql<{ id: string }[]>`
      INSERT INTO refunds (purchase_id, amount, idempotency_key) VALUES (${purchaseId}, 10, 'refund-expiring-1') RETURNING id::text`).id;
    const refused = { code: '23001', message: 'refunds cannot be deleted or changed once inserted', hint: expect.stringMatching(/\S/) };
    await expect(db.sql`UPDATE refunds SET amount = 1 WHERE id = ${refundId}`).rejects.toMatchObject(refused);
    await expect(db.sql`UPDATE refunds SET purchase_id = purchase_id WHERE id = ${refundId}`).rejects.toMatchObject(refused);
    await expect(db.sql`UPDATE refunds SET reason = 'changed my mind' WHERE id = ${refundId}`).rejects.toMatchObject(refused);
    await expect(db.sql`DELETE FROM refunds WHERE id = ${refundId}`).rejects.toMatchObject(refused);
    await db.sql`UPDATE refunds SET idempotency_key = NULL WHERE id = ${refundId}`;
    expect(onlyRow(await db.sql`SELECT amount::text, idempotency_key FROM refunds WHERE id = ${refundId}`)).toEqual({ amount: '10', idempotency_key: null });
  });

  test('the refund totals cannot be inserted, changed or deleted by hand, and neither table can be truncated', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100');
    const otherPurchase = await purchase(db.sql, buyer, '100');
    await refund(db.sql, purchaseId, '60');
    const before = await refundTraces(db.sql, purchaseId);
    const byHand = { code: '23001', message: 'purchase_refund_totals cannot be changed directly' };
    await expect(db.sql`UPDATE purchase_refund_totals SET refunded = 1 WHERE purchase_id = ${purchaseId}`).rejects.toMatchObject(byHand);
    await expect(db.sql`DELETE FROM purchase_refund_totals WHERE purchase_id = ${purchaseId}`).rejects.toMatchObject(byHand);
    await expect(db.sql`INSERT INTO purchase_refund_totals (purchase_id, refunded) VALUES (${otherPurchase}, 100)`).rejects.toMatchObject(byHand);
    await expect(db.sql`TRUNCATE purchase_refund_totals`).rejects.toMatchObject({ code: '23001', message: 'purchase_refund_totals cannot be truncated' });
    await expect(db.sql`TRUNCATE refunds CASCADE`).rejects.toMatchObject({ code: '23001', message: 'refunds cannot be truncated' });
    expect(await refundTraces(db.sql, purchaseId)).toEqual(before);
    await expect(refund(db.sql, purchaseId, '40.01')).rejects.toMatchObject({ constraint_name: 'refunds_do_not_exceed_the_purchase' });
  });

  test('behind the triggers, constraints tie a reversal to its refund and earning and keep its sign', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100');
    const refundId = await refund(db.sql, purchaseId, '10');
    const [credit] = await creditIds(db.sql, purchaseId);
    // With triggers off (a replica session), only the constraints stand.
    const insertBypassingTriggers = (values: { amount: string; refundId: string | null; reverses: string | null; level: number }) =>
      db.sql.begin(async (sql) => {
        await sql`SET LOCAL session_replication_role = replica`;
        await sql`
          INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, refund_id, reverses_earning_id, seq)
          VALUES (${referrer}, ${buyer}, ${values.level}, 0.05, ${values.amount}, ${purchaseId}, ${values.refundId}, ${values.reverses}, 1000)`;
      });
    await expect(insertBypassingTriggers({ amount: '0.50', refundId, reverses: credit!, level: 1 })).rejects
      .toMatchObject({ constraint_name: 'earnings_credit_is_positive_and_reversal_negative' });
    await expect(insertBypassingTriggers({ amount: '-0.50', refundId: null, reverses: null, level: 3 })).rejects
      .toMatchObject({ constraint_name: 'earnings_credit_is_positive_and_reversal_negative' });
    await expect(insertBypassingTriggers({ amount: '-0.50', refundId, reverses: null, level: 1 })).rejects
      .toMatchObject({ constraint_name: 'earnings_reversal_names_its_refund_and_earning' });
    await expect(insertBypassingTriggers({ amount: '-0.50', refundId, reverses: credit!, level: 1 })).rejects
      .toMatchObject({ code: '23505', constraint_name: 'earnings_reversal_refund_id_reverses_earning_id_key' });
    await expect(insertBypassingTriggers({ amount: '5.00', refundId: null, reverses: null, level: 1 })).rejects
      .toMatchObject({ code: '23505', constraint_name: 'earnings_credit_purchase_id_level_key' });
  });
});

describe('announcing reversals', () => {
  test('a refund statement sends one earnings notification covering its reversals; one that reverses nothing sends none', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100');
    const creditedNobody = await purchase(db.sql, await createUser(db.sql), '100');
    const listener = db.connect({ max: 1 });
    const payloads: string[] = [];
    try {
      await listener.listen('earnings', (payload) => payloads.push(payload));
      await refund(db.sql, creditedNobody, '100');
      await db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 10), (${purchaseId}, 20)`;
      await waitFor('the refund\'s notification', () => payloads.length >= 1);
      const reversalIds = (await db.sql<{ id: string }[]>`
        SELECT id::text FROM earnings WHERE purchase_id = ${purchaseId} AND refund_id IS NOT NULL ORDER BY id`).map((row) => Number(row.id));
      // Four reversals fit in one notification: it carries them.
      const notifications = payloads.map((payload) => parseEarningsNotification(payload));
      expect(notifications).toEqual([{
        kind: 'events',
        range: { first: reversalIds[0], last: reversalIds.at(-1) },
        events: reversalIds.map(() => expect.objectContaining({ json: expect.stringContaining('"type":"earning_reversed"') })),
      }]);
    } finally {
      await listener.end();
    }
  });

  test('the event view builds earning_reversed for a reversal, with a negative amount, and leaves earning_update as it was', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1999.99');
    const refundId = await refund(db.sql, purchaseId, '999.99');
    const events = await db.sql<{ event: string }[]>`
      SELECT event::text FROM earning_events WHERE user_id = ${referrer} ORDER BY seq`;
    const [credit] = await creditIds(db.sql, purchaseId);
    const [reversal] = await reversalsOf(db.sql, refundId);
    const reversalId = onlyRow(await db.sql<{ id: string }[]>`SELECT id::text FROM earnings WHERE refund_id = ${refundId} AND level = 1`).id;
    expect(events.map((row) => row.event)).toEqual([
      expect.stringMatching(new RegExp(`^\\{"type":"earning_update","userId":${referrer},"seq":1,"earningId":${credit},"purchaseId":${purchaseId},"fromUserId":${buyer},"level":1,"rate":"0.05","amount":"99.9995","purchaseAmount":"1999.99","createdAt":"[^"]+"\\}$`)),
      expect.stringMatching(new RegExp(`^\\{"type":"earning_reversed","userId":${referrer},"seq":2,"earningId":${reversalId},"reversesEarningId":${credit},"refundId":${refundId},"purchaseId":${purchaseId},"fromUserId":${buyer},"level":1,"rate":"0.05","amount":"-49.9995","refundAmount":"999.99","purchaseAmount":"1999.99","createdAt":"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"\\}$`)),
    ]);
    expect(reversal).toMatchObject({ seq: 2, amount: '-49.9995' });
  });
});
