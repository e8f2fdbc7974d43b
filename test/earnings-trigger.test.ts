// The purchases trigger credits the referrers, level by level, with exact
// NUMERIC arithmetic, for purchases inserted with plain SQL.

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers, createUser, earningsOfPurchase, purchase } from './support/referrals.js';

const db = useTestDatabase();

describe('crediting referrers', () => {
  test.each([
    ['0.01', '0.0005', '0.0001'],
    ['1999.99', '99.9995', '19.9999'],
    ['999999999999.99', '49999999999.9995', '9999999999.9999'],
  ])('a purchase of %s earns exactly %s at level 1 and %s at level 2', async (amount, level1, level2) => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, amount);
    expect(await earningsOfPurchase(db.sql, purchaseId)).toEqual([
      { userId: referrer, sourceUserId: buyer, level: 1, rate: '0.05', amount: level1, seq: 1 },
      { userId: root, sourceUserId: buyer, level: 2, rate: '0.01', amount: level2, seq: 1 },
    ]);
  });

  test('a root user\'s purchase creates no earnings', async () => {
    const root = await createUser(db.sql);
    expect(await earningsOfPurchase(db.sql, await purchase(db.sql, root, '100'))).toEqual([]);
  });

  test('a user with only a level-1 referrer creates one earning', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    expect(await earningsOfPurchase(db.sql, await purchase(db.sql, buyer, '100'))).toEqual([
      { userId: referrer, sourceUserId: buyer, level: 1, rate: '0.05', amount: '5.00', seq: 1 },
    ]);
  });

  test('referrers more than two levels up earn nothing by default', async () => {
    const l4 = await createUser(db.sql);
    const l3 = await createUser(db.sql, l4);
    const l2 = await createUser(db.sql, l3);
    const l1 = await createUser(db.sql, l2);
    const buyer = await createUser(db.sql, l1);
    const earnings = await earningsOfPurchase(db.sql, await purchase(db.sql, buyer, '100'));
    expect(earnings.map((earning) => earning.userId)).toEqual([l1, l2]);
  });

  test('referral_rates keeps level 1: emptying it or removing level 1 is refused at commit, so no purchase goes uncredited in silence', async () => {
    const rates = () => db.sql`SELECT level, rate::text FROM referral_rates ORDER BY level`;
    const before = await rates();
    expect(before).toEqual([{ level: 1, rate: '0.05' }, { level: 2, rate: '0.01' }]);
    const keepLevel1 = { code: '23514', constraint_name: 'referral_rates_level_1_is_defined', hint: expect.stringContaining('UPDATE referral_rates') };
    await expect(db.sql`DELETE FROM referral_rates`).rejects.toMatchObject(keepLevel1);
    await expect(db.sql`DELETE FROM referral_rates WHERE level = 1`).rejects.toMatchObject(keepLevel1);
    await expect(db.sql`UPDATE referral_rates SET level = 3 WHERE level = 1`).rejects.toMatchObject(keepLevel1);
    await expect(db.sql`TRUNCATE referral_rates`).rejects.toMatchObject({ code: '23001', message: expect.stringContaining('referral_rates cannot be truncated') });
    expect(await rates()).toEqual(before);
    // Checked at commit: one transaction may replace every rate.
    await db.sql.begin(async (sql) => {
      await sql`DELETE FROM referral_rates`;
      await sql`INSERT INTO referral_rates (level, rate) VALUES (1, 0.05), (2, 0.01)`;
    });
    expect(await rates()).toEqual(before);
  });

  test('a new level is one INSERT into referral_rates, and its rate applies from then on', async () => {
    const l3 = await createUser(db.sql);
    const l2 = await createUser(db.sql, l3);
    const l1 = await createUser(db.sql, l2);
    const buyer = await createUser(db.sql, l1);
    const before = await earningsOfPurchase(db.sql, await purchase(db.sql, buyer, '200'));
    expect(before.map((earning) => earning.level)).toEqual([1, 2]);

    await db.sql`INSERT INTO referral_rates (level, rate) VALUES (3, 0.005)`;
    try {
      const after = await earningsOfPurchase(db.sql, await purchase(db.sql, buyer, '200'));
      expect(after).toEqual([
        { userId: l1, sourceUserId: buyer, level: 1, rate: '0.05', amount: '10.00', seq: 2 },
        { userId: l2, sourceUserId: buyer, level: 2, rate: '0.01', amount: '2.00', seq: 2 },
        { userId: l3, sourceUserId: buyer, level: 3, rate: '0.005', amount: '1.00', seq: 1 },
      ]);
    } finally {
      await db.sql`DELETE FROM referral_rates WHERE level = 3`;
    }
  });

  test('a rate change affects later purchases only, and each earning keeps the rate it used', async () => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const first = await purchase(db.sql, buyer, '100');
    await db.sql`UPDATE referral_rates SET rate = 0.07 WHERE level = 1`;
    try {
      const second = await purchase(db.sql, buyer, '100');
      expect((await earningsOfPurchase(db.sql, first))[0]).toMatchObject({ userId: referrer, rate: '0.05', amount: '5.00' });
      expect((await earningsOfPurchase(db.sql, second))[0]).toMatchObject({ userId: referrer, rate: '0.07', amount: '7.00' });
    } finally {
      await db.sql`UPDATE referral_rates SET rate = 0.05 WHERE level = 1`;
    }
  });

  test('rates outside (0, 1] and levels outside 1-5 are refused', async () => {
    await expect(db.sql`INSERT INTO referral_rates (level, rate) VALUES (6, 0.01)`).rejects
      .toMatchObject({ code: '23514', constraint_name: 'referral_rates_level_is_1_to_5' });
    for (const rate of ['0', '-0.01', '1.5', 'NaN']) {
      await expect(db.sql`UPDATE referral_rates SET rate = ${rate} WHERE level = 2`).rejects
        .toMatchObject({ code: '23514', constraint_name: 'referral_rates_rate_is_above_0_and_at_most_1' });
    }
  });

  test('a referrer change never alters earnings already credited', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const newReferrer = await createUser(db.sql);
    const before = await purchase(db.sql, buyer, '300');
    await db.sql`UPDATE users SET referred_by = ${newReferrer} WHERE id = ${buyer}`;
    const after = await purchase(db.sql, buyer, '300');
    expect((await earningsOfPurchase(db.sql, before)).map((earning) => earning.userId)).toEqual([referrer, root]);
    expect((await earningsOfPurchase(db.sql, after)).map((earning) => earning.userId)).toEqual([newReferrer]);
  });

  test('each beneficiary\'s seq counts 1, 2, 3 … across purchases and levels', async () => {
    const { root, referrer, buyer: buyerA } = await createBuyerWithTwoReferrers(db.sql);
    const buyerB = await createUser(db.sql, root);
    await purchase(db.sql, buyerA, '10');
    await purchase(db.sql, buyerB, '10');
    await purchase(db.sql, buyerA, '10');
    const seqs = await db.sql<{ userId: number; seqs: number[] }[]>`
      SELECT user_id AS "userId", array_agg(seq::int ORDER BY id) AS seqs
      FROM earnings WHERE user_id IN (${root}, ${referrer}) GROUP BY user_id ORDER BY user_id`;
    expect(seqs).toEqual([
      { userId: root, seqs: [1, 2, 3] },
      { userId: referrer, seqs: [1, 2] },
    ]);
  });

  test('one INSERT … SELECT of 10,000 purchases credits every one of them exactly', async () => {
    const root = await createUser(db.sql);
    const referrer = await createUser(db.sql, root);
    const buyerA = await createUser(db.sql, referrer);
    const buyerB = await createUser(db.sql, referrer);

    // Amounts 0.01, 1.02, 2.03 … in cents: the exact totals are computed here
    // in integers, independently of the database.
    const count = 10_000;
    const cents = Array.from({ length: count }, (_, i) => BigInt(i * 101 + 1));
    const totalCents = cents.reduce((sum, value) => sum + value, 0n);
    await db.sql`
      INSERT INTO purchases (user_id, amount)
      SELECT CASE WHEN i % 2 = 0 THEN ${buyerA}::int ELSE ${buyerB}::int END, (i * 101 + 1) / 100.0
      FROM generate_series(0, ${count - 1}) AS i`;

    const totals = await db.sql<{ userId: number; level: number; count: number; total: string; seqs: string }[]>`
      SELECT user_id AS "userId", level, count(*)::int AS count, sum(amount)::text AS total,
             min(seq) || '..' || max(seq) AS seqs
      FROM earnings WHERE user_id IN (${root}, ${referrer}) GROUP BY user_id, level ORDER BY level`;
    expect(totals).toEqual([
      { userId: referrer, level: 1, count, total: scaled(totalCents * 5n, 4), seqs: `1..${count}` },
      { userId: root, level: 2, count, total: scaled(totalCents * 1n, 4), seqs: `1..${count}` },
    ]);
  });
});

describe('the ledger protects itself', () => {
  test('earnings cannot be inserted, updated or deleted by hand', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '10');
    await expect(db.sql`
      INSERT INTO earnings (user_id, source_user_id, level, rate, amount, purchase_id, seq)
      VALUES (${buyer}, ${buyer}, 3, 0.5, 5, ${purchaseId}, 99)`).rejects
      .toMatchObject({ code: '23001', message: 'earnings cannot be inserted directly' });
    await expect(db.sql`UPDATE earnings SET amount = 0 WHERE purchase_id = ${purchaseId}`).rejects
      .toMatchObject({ code: '23001', message: 'earnings cannot be updated or deleted' });
    await expect(db.sql`DELETE FROM earnings WHERE purchase_id = ${purchaseId}`).rejects
      .toMatchObject({ code: '23001' });
  });

  test('a purchase\'s user and amount cannot change after it was credited', async () => {
    const { buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '10');
    await expect(db.sql`UPDATE purchases SET amount = 20 WHERE id = ${purchaseId}`).rejects
      .toMatchObject({ code: '23001' });
    await expect(db.sql`DELETE FROM purchases WHERE id = ${purchaseId}`).rejects
      .toMatchObject({ code: '23001', message: 'purchases cannot be deleted' });
    expect(await earningsOfPurchase(db.sql, purchaseId)).toEqual([expect.objectContaining({ level: 1, amount: '0.50' })]);
  });
});

/** An integer of units of 10^-scale as an exact decimal string. */
function scaled(units: bigint, scale: number): string {
  const digits = units.toString().padStart(scale + 1, '0');
  return `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}
