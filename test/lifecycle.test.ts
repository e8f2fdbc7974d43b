// A commission's lifecycle, in SQL: a credit is pending for the holding
// period in force when it was credited, then available, exactly when that
// period ends (a settable clock, never a sleep); a refund of a pending credit
// nets inside pending, a refund of an available one takes the money back at
// once; a purchase below the minimum purchase amount credits nobody; and a
// change of the settings applies only to what comes after it.

import { afterEach, describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { atMoment, availableAtOf, balanceOf, refund, setSettings, shifted } from './support/payouts.js';
import { createBuyerWithReferrer, createBuyerWithTwoReferrers, earningsOfPurchase, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();
// The settings are one row for the whole database: each test sets what it needs.
afterEach(async () => {
  await setSettings(db.sql);
});

const settingsRow = async () => onlyRow(await db.sql`
  SELECT holding_period::text, minimum_payout::text, minimum_purchase_amount::text, currency, iso_8601_duration(holding_period) AS iso
  FROM program_settings`);

describe('program_settings', () => {
  test('holds one row with the production defaults: 30 days, a minimum payout of 50.00, no minimum purchase, no currency', async () => {
    const [fresh] = await db.sql`SELECT count(*)::int AS rows FROM program_settings`;
    expect(fresh).toEqual({ rows: 1 });
    expect(await settingsRow()).toEqual({ holding_period: '30 days', minimum_payout: '50.00', minimum_purchase_amount: '0', currency: '', iso: 'P30D' });
  });

  test('every bad value is refused with a constraint that names the field, and changes nothing', async () => {
    await setSettings(db.sql, { holdingPeriod: '7 days', minimumPayout: '20.00', currency: 'INR' });
    const before = await settingsRow();
    const cases: Array<[string, string]> = [
      ['minimum_payout = -0.01', 'program_settings_minimum_payout_is_not_negative'],
      ['minimum_payout = 10.005', 'program_settings_minimum_payout_has_at_most_2_decimals'],
      ['minimum_payout = \'NaN\'', 'program_settings_minimum_payout_is_a_number'],
      ['minimum_payout = 1000000000000', 'program_settings_minimum_payout_is_below_1_trillion'],
      ['minimum_purchase_amount = -1', 'program_settings_minimum_purchase_amount_is_not_negative'],
      ['minimum_purchase_amount = 0.001', 'program_settings_minimum_purchase_amount_has_at_most_2_decimals'],
      ['holding_period = \'-1 second\'', 'program_settings_holding_period_is_not_negative'],
      ['holding_period = \'1 mon -31 days\'', 'program_settings_holding_period_is_not_negative'],
      ['holding_period = \'3651 days\'', 'program_settings_holding_period_is_at_most_3650_days'],
      ['holding_period = \'1 mon\'', 'program_settings_holding_period_uses_days_and_time_only'],
      ['holding_period = \'1 mon -30 days\'', 'program_settings_holding_period_uses_days_and_time_only'],
      ['holding_period = \'1 day -1 hour\'', 'program_settings_holding_period_uses_days_and_time_only'],
      ['currency = \'Indian rupee\'', 'program_settings_currency_has_no_spaces_or_control_characters'],
      ['currency = \'RUPEESRUPEES\'', 'program_settings_currency_is_at_most_10_characters'],
    ];
    for (const [assignment, constraint] of cases) {
      await expect(db.sql.unsafe(`UPDATE program_settings SET ${assignment}`), assignment).rejects.toMatchObject({ code: '23514', constraint_name: constraint });
    }
    await expect(db.sql`UPDATE program_settings SET minimum_payout = NULL`).rejects.toMatchObject({ code: '23502' });
    const oneRow = { code: '23001', hint: expect.stringContaining('UPDATE program_settings') };
    await expect(db.sql`INSERT INTO program_settings (one_row) VALUES (true)`).rejects.toMatchObject(oneRow);
    await expect(db.sql`DELETE FROM program_settings`).rejects.toMatchObject(oneRow);
    await expect(db.sql`TRUNCATE program_settings`).rejects.toMatchObject(oneRow);
    expect(await settingsRow()).toEqual(before);
  });
});

describe('the holding period', () => {
  test('a credit is pending until the holding period ends, and available from that very microsecond', async () => {
    await setSettings(db.sql, { holdingPeriod: '14 days' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    const { createdAt, availableAt } = await availableAtOf(db.sql, purchaseId, referrer);
    expect(availableAt).toBe(await shifted(db.sql, createdAt, '14 days'));

    const justBefore = await shifted(db.sql, availableAt, '-1 microsecond');
    expect(await atMoment(db.sql, justBefore, (tx) => balanceOf(tx, referrer)))
      .toEqual({ pending: '50.00', available: '0.00', inPayout: '0.00', paid: '0.00', total: '50.00' });
    expect(await atMoment(db.sql, availableAt, (tx) => balanceOf(tx, referrer)))
      .toEqual({ pending: '0.00', available: '50.00', inPayout: '0.00', paid: '0.00', total: '50.00' });
    // Without a clock setting, now() is 14 days too early.
    expect((await balanceOf(db.sql, referrer)).pending).toBe('50.00');
  });

  test('with a holding period of 0 a credit is available as it commits', async () => {
    await setSettings(db.sql, { holdingPeriod: '0' });
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    await purchase(db.sql, buyer, '1999.99');
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '99.9995', inPayout: '0.00', paid: '0.00', total: '99.9995' });
    expect(await balanceOf(db.sql, root)).toEqual({ pending: '0.00', available: '19.9999', inPayout: '0.00', paid: '0.00', total: '19.9999' });
  });

  test('a refund before the holding period ends nets inside pending; what is left becomes available when the credit does', async () => {
    await setSettings(db.sql, { holdingPeriod: '30 days' });
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    await refund(db.sql, purchaseId, '250.00');
    const { availableAt } = await availableAtOf(db.sql, purchaseId, referrer);
    const reversals = await db.sql`
      SELECT user_id, decimal_text(amount) AS amount, available_at::text = ${availableAt} AS with_its_credit
      FROM earnings WHERE purchase_id = ${purchaseId} AND refund_id IS NOT NULL ORDER BY level`;
    expect(reversals).toEqual([
      { user_id: referrer, amount: '-12.50', with_its_credit: true },
      { user_id: root, amount: '-2.50', with_its_credit: true },
    ]);

    const justBefore = await shifted(db.sql, availableAt, '-1 microsecond');
    expect(await atMoment(db.sql, justBefore, (tx) => balanceOf(tx, referrer)))
      .toEqual({ pending: '37.50', available: '0.00', inPayout: '0.00', paid: '0.00', total: '37.50' });
    expect(await atMoment(db.sql, availableAt, (tx) => balanceOf(tx, referrer)))
      .toEqual({ pending: '0.00', available: '37.50', inPayout: '0.00', paid: '0.00', total: '37.50' });
    // Refunded in full while pending: nothing ever becomes available.
    await refund(db.sql, purchaseId, null);
    expect(await atMoment(db.sql, availableAt, (tx) => balanceOf(tx, root)))
      .toEqual({ pending: '0.00', available: '0.00', inPayout: '0.00', paid: '0.00', total: '0.00' });
  });

  test('a refund of an available credit takes the money back from available at once: it never waits', async () => {
    await setSettings(db.sql, { holdingPeriod: '1 day' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '1000');
    const { availableAt } = await availableAtOf(db.sql, purchaseId, referrer);
    const later = await shifted(db.sql, availableAt, '1 hour');
    await setSettings(db.sql, { holdingPeriod: '30 days' });
    await refund(db.sql, purchaseId, '400.00');
    expect(await atMoment(db.sql, later, (tx) => balanceOf(tx, referrer)))
      .toEqual({ pending: '0.00', available: '30.00', inPayout: '0.00', paid: '0.00', total: '30.00' });
  });

  test('a change of the holding period applies to credits after it; earlier credits keep theirs', async () => {
    await setSettings(db.sql, { holdingPeriod: '30 days' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const early = await purchase(db.sql, buyer, '100');
    await setSettings(db.sql, { holdingPeriod: '7 days' });
    const late = await purchase(db.sql, buyer, '200');
    const earlyCredit = await availableAtOf(db.sql, early, referrer);
    const lateCredit = await availableAtOf(db.sql, late, referrer);
    expect(earlyCredit.availableAt).toBe(await shifted(db.sql, earlyCredit.createdAt, '30 days'));
    expect(lateCredit.availableAt).toBe(await shifted(db.sql, lateCredit.createdAt, '7 days'));

    const inTenDays = await shifted(db.sql, lateCredit.createdAt, '10 days');
    expect(await atMoment(db.sql, inTenDays, (tx) => balanceOf(tx, referrer)))
      .toEqual({ pending: '5.00', available: '10.00', inPayout: '0.00', paid: '0.00', total: '15.00' });
    // Shortening it again changes neither credit.
    await setSettings(db.sql, { holdingPeriod: '0' });
    expect(await availableAtOf(db.sql, early, referrer)).toEqual(earlyCredit);
  });
});

describe('the minimum purchase amount', () => {
  test('a purchase below it credits nobody; at it and above, the referrers earn as before', async () => {
    await setSettings(db.sql, { minimumPurchaseAmount: '1000.00' });
    const { buyer } = await createBuyerWithTwoReferrers(db.sql);
    const below = await purchase(db.sql, buyer, '999.99');
    const at = await purchase(db.sql, buyer, '1000.00');
    const above = await purchase(db.sql, buyer, '1000.01');
    expect(await earningsOfPurchase(db.sql, below)).toEqual([]);
    expect((await earningsOfPurchase(db.sql, at)).map((earning) => [earning.level, earning.amount, earning.seq])).toEqual([[1, '50.00', 1], [2, '10.00', 1]]);
    expect((await earningsOfPurchase(db.sql, above)).map((earning) => [earning.level, earning.amount, earning.seq])).toEqual([[1, '50.0005', 2], [2, '10.0001', 2]]);
    // The purchase below it is recorded, and a refund of it reverses nothing.
    await refund(db.sql, below, null);
    expect(await earningsOfPurchase(db.sql, below)).toEqual([]);
  });

  test('in one statement, only the purchases at or above it credit anyone, and seqs stay gap-free', async () => {
    await setSettings(db.sql, { minimumPurchaseAmount: '10.00' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await db.sql`INSERT INTO purchases (user_id, amount) SELECT ${buyer}::int, amount FROM unnest(${['9.99', '10.00', '0.01', '25.00']}::numeric[]) AS amount`;
    expect(await db.sql`SELECT decimal_text(amount) AS amount, seq::int FROM earnings WHERE user_id = ${referrer} ORDER BY seq`)
      .toEqual([{ amount: '0.50', seq: 1 }, { amount: '1.25', seq: 2 }]);
  });

  test('a change applies to purchases after it commits: raising it never takes back what was credited', async () => {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await purchase(db.sql, buyer, '100');
    await setSettings(db.sql, { minimumPurchaseAmount: '500.00' });
    await purchase(db.sql, buyer, '100');
    expect(onlyRow(await db.sql`SELECT count(*)::int AS credits, decimal_text(sum(amount)) AS total FROM earnings WHERE user_id = ${referrer}`))
      .toEqual({ credits: 1, total: '5.00' });
  });
});
