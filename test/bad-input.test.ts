// Bad purchases are refused by the database itself, with a clear error, and
// leave nothing behind: no purchase, no earning, no seq consumed.

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithTwoReferrers, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();

/** The ledger's size: equal before and after means nothing was written and no seq consumed. */
async function ledgerSize() {
  return onlyRow(await db.sql<{ purchases: number; earnings: number; seqs: string | null }[]>`
    SELECT (SELECT count(*)::int FROM purchases) AS purchases,
           (SELECT count(*)::int FROM earnings) AS earnings,
           (SELECT sum(last_seq)::text FROM earning_sequences) AS seqs`);
}

describe('bad purchases', () => {
  test.each([
    ['zero', '0', 'purchases_amount_is_positive'],
    ['negative', '-5.00', 'purchases_amount_is_positive'],
    ['NaN', 'NaN', 'purchases_amount_is_a_number'],
    ['Infinity', 'Infinity', 'purchases_amount_is_at_most_999999999999_99'],
    ['-Infinity', '-Infinity', 'purchases_amount_is_positive'],
    ['more than 2 decimals (not rounded)', '1.005', 'purchases_amount_has_at_most_2_decimals'],
    ['a third decimal of a tiny amount', '0.001', 'purchases_amount_has_at_most_2_decimals'],
    ['over 999999999999.99', '1000000000000.00', 'purchases_amount_is_at_most_999999999999_99'],
  ])('an amount that is %s is refused and leaves nothing behind', async (_, amount, constraint) => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const before = await ledgerSize();
    await expect(purchase(db.sql, buyer, amount)).rejects.toMatchObject({
      code: '23514',
      constraint_name: constraint,
      message: `new row for relation "purchases" violates check constraint "${constraint}"`,
    });
    expect(await ledgerSize()).toEqual(before);
  });

  test('an unknown user is refused and leaves nothing behind', async () => {
    const before = await ledgerSize();
    await expect(purchase(db.sql, 987654, '10')).rejects.toMatchObject({
      code: '23503',
      constraint_name: 'purchases_user_id_fkey',
      detail: 'Key (user_id)=(987654) is not present in table "users".',
    });
    expect(await ledgerSize()).toEqual(before);
  });

  test('a NULL user is refused and leaves nothing behind', async () => {
    const before = await ledgerSize();
    await expect(db.sql`INSERT INTO purchases (user_id, amount) VALUES (NULL, 10)`).rejects.toMatchObject({
      code: '23502',
      column_name: 'user_id',
    });
    expect(await ledgerSize()).toEqual(before);
  });

  test('one bad row refuses the whole multi-row INSERT', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const before = await ledgerSize();
    await expect(db.sql`
      INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10), (${buyer}, 20), (${buyer}, 0.001)`).rejects
      .toMatchObject({ code: '23514' });
    expect(await ledgerSize()).toEqual(before);
  });

  test('a purchase inside a rolled-back transaction leaves nothing behind', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const before = await ledgerSize();
    await expect(db.sql.begin(async (sql) => {
      await sql`INSERT INTO purchases (user_id, amount) VALUES (${buyer}, 10)`;
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(await ledgerSize()).toEqual(before);
    // …and the next earning takes the seq the rolled-back one would have had.
    const purchaseId = await purchase(db.sql, buyer, '10');
    const earning = onlyRow(await db.sql<{ seq: number }[]>`
      SELECT seq::int FROM earnings WHERE purchase_id = ${purchaseId} AND level = 1`);
    expect(earning.seq).toBe(1);
  });

  test.each([
    ['empty', '', 'purchases_idempotency_key_is_1_to_200_characters'],
    ['201 characters long', 'k'.repeat(201), 'purchases_idempotency_key_is_1_to_200_characters'],
    ['holding a space', 'order 7781', 'purchases_idempotency_key_is_visible_ascii'],
    ['holding a tab', 'order\t7781', 'purchases_idempotency_key_is_visible_ascii'],
    ['not ASCII', 'bestellung-ä', 'purchases_idempotency_key_is_visible_ascii'],
  ])('an idempotency key that is %s is refused and leaves nothing behind', async (_, key, constraint) => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const before = await ledgerSize();
    await expect(db.sql`INSERT INTO purchases (user_id, amount, idempotency_key) VALUES (${buyer}, 10, ${key})`).rejects
      .toMatchObject({ code: '23514', constraint_name: constraint });
    expect(await ledgerSize()).toEqual(before);
  });

  test('an idempotency key of 200 visible ASCII characters is accepted', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const key = `!~${'k'.repeat(196)}{}`;
    const row = onlyRow(await db.sql<{ key: string }[]>`
      INSERT INTO purchases (user_id, amount, idempotency_key) VALUES (${buyer}, 10, ${key}) RETURNING idempotency_key AS key`);
    expect(row.key).toBe(key);
  });

  test('equal values with more digits are accepted as the same amount', async () => {
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '12.500');
    const earning = onlyRow(await db.sql<{ amount: string }[]>`
      SELECT amount::text FROM earnings WHERE purchase_id = ${purchaseId} AND level = 1`);
    expect(earning.amount).toBe('0.625');
  });
});
