// Payouts, in SQL: create_payouts() pays each user whose available balance
// reaches the minimum payout, in whole cents, and keeps the sub-cent rest
// available, so that over any number of rounds nothing is lost or invented;
// a refund of a commission already paid makes available negative, and no
// payout comes until new earnings cover it; a failed or canceled payout's
// amount is available again; a payout's status moves once, from pending.

import { afterEach, describe, expect, test } from 'vitest';
import { useTestDatabase, type Sql } from './support/database.js';
import { atMoment, balanceOf, createPayouts, payoutsOf, refund, setSettings } from './support/payouts.js';
import { createBuyerWithReferrer, createUser, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();
afterEach(async () => {
  await setSettings(db.sql);
});

/** A buyer whose referrer has `amount` × 5% available at once (holding period 0). */
async function referrerWithAvailable(purchaseAmount: string) {
  await setSettings(db.sql, { holdingPeriod: '0' });
  const users = await createBuyerWithReferrer(db.sql);
  return { ...users, purchaseId: await purchase(db.sql, users.buyer, purchaseAmount) };
}

const markPaid = (sql: Sql, payoutId: string, reference: string) => sql`SELECT * FROM mark_payout_paid(${payoutId}::bigint, ${reference})`;

describe('create_payouts()', () => {
  test('pays 99.9995 available as exactly 99.99 and leaves 0.0095 available for the next payout', async () => {
    const { referrer } = await referrerWithAvailable('1999.99');
    const [payout, ...others] = await createPayouts(db.sql, [referrer]);
    expect(others).toEqual([]);
    expect(payout).toEqual({ id: expect.any(String), userId: referrer, amount: '99.99', status: 'pending' });
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '0.0095', inPayout: '99.99', paid: '0.00', total: '99.9995' });
    expect(await createPayouts(db.sql, [referrer])).toEqual([]);
    await markPaid(db.sql, payout!.id, 'TX-1');
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '0.0095', inPayout: '0.00', paid: '99.99', total: '99.9995' });
  });

  test('pays nobody below the minimum payout, and exactly at it; a sub-cent balance is never a 0.00 payout, even with no minimum', async () => {
    const { referrer: below } = await referrerWithAvailable('999.99');
    const { referrer: at } = await referrerWithAvailable('1000.00');
    await setSettings(db.sql, { holdingPeriod: '0', minimumPayout: '50.00' });
    expect((await createPayouts(db.sql, [below, at])).map((payout) => [payout.userId, payout.amount])).toEqual([[at, '50.00']]);
    expect((await balanceOf(db.sql, below)).available).toBe('49.9995');

    const { referrer: tiny } = await referrerWithAvailable('0.19');
    await setSettings(db.sql, { holdingPeriod: '0', minimumPayout: '0' });
    expect((await balanceOf(db.sql, tiny)).available).toBe('0.0095');
    expect((await createPayouts(db.sql, [below, tiny])).map((payout) => [payout.userId, payout.amount])).toEqual([[below, '49.99']]);
    expect((await balanceOf(db.sql, tiny)).available).toBe('0.0095');
  });

  test('pays only what is available: pending credits wait for their holding period', async () => {
    await setSettings(db.sql, { holdingPeriod: '30 days' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await purchase(db.sql, buyer, '2000');
    expect(await createPayouts(db.sql, [referrer])).toEqual([]);
    const { availableAt } = onlyRow(await db.sql<{ availableAt: string }[]>`
      SELECT available_at::text AS "availableAt" FROM earnings WHERE user_id = ${referrer}`);
    const paid = await atMoment(db.sql, availableAt, (tx) => createPayouts(tx, [referrer]));
    expect(paid.map((payout) => payout.amount)).toEqual(['100.00']);
  });

  test('a refund after the payout makes available negative (a clawback): no payout until new earnings cover it', async () => {
    const { referrer, buyer, purchaseId } = await referrerWithAvailable('1999.99');
    const [payout] = await createPayouts(db.sql, [referrer]);
    await markPaid(db.sql, payout!.id, 'TX-CLAWBACK');
    await refund(db.sql, purchaseId, null);
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '-99.99', inPayout: '0.00', paid: '99.99', total: '0.00' });

    await setSettings(db.sql, { holdingPeriod: '0', minimumPayout: '0' });
    await purchase(db.sql, buyer, '1999.80'); // earns 99.99: available back to exactly 0.00
    expect((await balanceOf(db.sql, referrer)).available).toBe('0.00');
    expect(await createPayouts(db.sql, [referrer])).toEqual([]);
    await purchase(db.sql, buyer, '1000');
    expect((await createPayouts(db.sql, [referrer])).map((next) => next.amount)).toEqual(['50.00']);
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '0.00', inPayout: '50.00', paid: '99.99', total: '149.99' });
  });

  test('a failed payout returns its amount to available, and the next run pays it again; so does a canceled one', async () => {
    const { referrer } = await referrerWithAvailable('1999.99');
    const [first] = await createPayouts(db.sql, [referrer]);
    const failed = onlyRow(await db.sql`SELECT status, reason FROM mark_payout_failed(${first!.id}::bigint, 'account closed')`);
    expect(failed).toEqual({ status: 'failed', reason: 'account closed' });
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '99.9995', inPayout: '0.00', paid: '0.00', total: '99.9995' });

    const [second] = await createPayouts(db.sql, [referrer]);
    expect(second!.amount).toBe('99.99');
    await db.sql`SELECT * FROM cancel_payout(${second!.id}::bigint)`;
    expect((await balanceOf(db.sql, referrer)).available).toBe('99.9995');
    const [third] = await createPayouts(db.sql, [referrer]);
    await markPaid(db.sql, third!.id, 'TX-3');
    expect((await payoutsOf(db.sql, referrer)).map((payout) => [payout.amount, payout.status]))
      .toEqual([['99.99', 'failed'], ['99.99', 'canceled'], ['99.99', 'paid']]);
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '0.0095', inPayout: '0.00', paid: '99.99', total: '99.9995' });
  });

  test('each payout records the program currency in force when it was created', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    await setSettings(db.sql, { holdingPeriod: '0', currency: 'INR' });
    const [payout] = await createPayouts(db.sql, [referrer]);
    await setSettings(db.sql, { holdingPeriod: '0', currency: 'EUR' });
    expect(onlyRow(await db.sql`SELECT currency FROM payouts WHERE id = ${payout!.id}`)).toEqual({ currency: 'INR' });
  });
});

describe('a payout\'s status', () => {
  test('moves once, from pending: paid, failed and canceled are final, and a refused move changes nothing', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const [payout] = await createPayouts(db.sql, [referrer]);
    const id = payout!.id;
    await markPaid(db.sql, id, 'TX-2026-0042');
    const before = onlyRow(await db.sql`SELECT * FROM payouts WHERE id = ${id}`);
    const eventsBefore = await db.sql`SELECT * FROM payout_events WHERE payout_id = ${id}`;
    const conflict = (message: string) => ({ code: '23514', constraint_name: 'payouts_status_changes_only_from_pending', message });
    await expect(db.sql`SELECT * FROM mark_payout_failed(${id}::bigint, 'bounced')`).rejects
      .toMatchObject(conflict(`payout ${id} is already paid (reference TX-2026-0042): it cannot be marked failed`));
    await expect(db.sql`SELECT * FROM cancel_payout(${id}::bigint)`).rejects
      .toMatchObject(conflict(`payout ${id} is already paid (reference TX-2026-0042): it cannot be canceled`));
    await expect(markPaid(db.sql, id, 'TX-OTHER')).rejects
      .toMatchObject(conflict(`payout ${id} is already paid (reference TX-2026-0042): it cannot be marked paid with reference TX-OTHER`));
    await expect(db.sql`UPDATE payouts SET status = 'pending', reference = NULL, paid_at = NULL WHERE id = ${id}`).rejects
      .toMatchObject(conflict(`payout ${id} is already paid (reference TX-2026-0042): it cannot be pending again`));
    // The same move again is a harmless repeat.
    expect(onlyRow(await markPaid(db.sql, id, 'TX-2026-0042'))).toEqual(before);
    expect(onlyRow(await db.sql`SELECT * FROM payouts WHERE id = ${id}`)).toEqual(before);
    expect(await db.sql`SELECT * FROM payout_events WHERE payout_id = ${id}`).toEqual(eventsBefore);
  });

  test('a failed payout cannot be paid, nor a canceled one failed', async () => {
    const { referrer: first } = await referrerWithAvailable('1000');
    const { referrer: second } = await referrerWithAvailable('1000');
    const [failed, canceled] = await createPayouts(db.sql, [first, second]);
    await db.sql`SELECT mark_payout_failed(${failed!.id}::bigint)`;
    await db.sql`SELECT cancel_payout(${canceled!.id}::bigint, 'duplicate account')`;
    await expect(markPaid(db.sql, failed!.id, 'TX-LATE')).rejects
      .toMatchObject({ constraint_name: 'payouts_status_changes_only_from_pending', message: `payout ${failed!.id} is already failed: it cannot be marked paid with reference TX-LATE` });
    await expect(db.sql`SELECT mark_payout_failed(${canceled!.id}::bigint)`).rejects
      .toMatchObject({ constraint_name: 'payouts_status_changes_only_from_pending', message: `payout ${canceled!.id} is already canceled: it cannot be marked failed` });
    expect((await balanceOf(db.sql, first)).available).toBe('50.00');
  });

  test('an unknown payout is named as such, and a NULL id as a missing id', async () => {
    for (const call of [
      db.sql`SELECT * FROM mark_payout_paid(987654321, 'TX')`,
      db.sql`SELECT * FROM mark_payout_failed(987654321)`,
      db.sql`SELECT * FROM cancel_payout(987654321, 'why')`,
    ]) {
      await expect(call).rejects.toMatchObject({ code: 'P0002', constraint_name: 'payouts_payout_exists', message: 'there is no payout 987654321' });
    }
    for (const call of [db.sql`SELECT * FROM mark_payout_paid(NULL, 'TX')`, db.sql`SELECT * FROM cancel_payout(NULL)`]) {
      await expect(call).rejects.toMatchObject({ code: '22004', message: 'which payout? the payout id is NULL', hint: expect.stringContaining('payouts.id') });
    }
  });

  test('a payout is marked paid only with a reference of 1 to 200 characters, and a reason is at most 500 characters', async () => {
    const { referrer } = await referrerWithAvailable('1000');
    const [payout] = await createPayouts(db.sql, [referrer]);
    const id = payout!.id;
    const refused: Array<[string | null, string]> = [
      [null, 'payouts_reference_is_given_when_paid'],
      ['', 'payouts_reference_is_1_to_200_characters'],
      ['   ', 'payouts_reference_is_not_blank'],
      ['x'.repeat(201), 'payouts_reference_is_1_to_200_characters'],
      ['TX\n1', 'payouts_reference_has_no_control_characters'],
    ];
    for (const [reference, constraint] of refused) {
      await expect(db.sql`SELECT * FROM mark_payout_paid(${id}::bigint, ${reference}::text)`, String(reference)).rejects.toMatchObject({ code: '23514', constraint_name: constraint });
    }
    await expect(db.sql`SELECT * FROM mark_payout_paid(${id}::bigint, NULL)`).rejects
      .toMatchObject({ message: `payout ${id} cannot be marked paid without the transfer's reference`, hint: expect.stringContaining('transfer id') });
    await expect(db.sql`SELECT * FROM mark_payout_failed(${id}::bigint, ${'x'.repeat(501)})`).rejects.toMatchObject({ constraint_name: 'payouts_reason_is_at_most_500_characters' });
    expect((await payoutsOf(db.sql, referrer)).map((row) => row.status)).toEqual(['pending']);
  });
});

describe('payouts by hand', () => {
  test('an inserted payout may not exceed the available balance, must start pending and be whole cents; payouts are never deleted or changed', async () => {
    const { referrer } = await referrerWithAvailable('1000'); // 50.00 available
    const insert = (amount: string, status = 'pending') => db.sql`INSERT INTO payouts (user_id, amount, status) VALUES (${referrer}, ${amount}, ${status})`;
    await expect(insert('50.01')).rejects.toMatchObject({
      code: '23514', constraint_name: 'payouts_do_not_exceed_the_available_balance',
      message: `a payout of 50.01 would exceed the available balance of user ${referrer}, which is 50.00`,
    });
    await expect(insert('10.00', 'paid')).rejects.toMatchObject({ code: '23514' });
    await expect(insert('10.005')).rejects.toMatchObject({ constraint_name: 'payouts_amount_is_whole_cents' });
    await expect(insert('0')).rejects.toMatchObject({ constraint_name: 'payouts_amount_is_positive' });
    await expect(insert('NaN')).rejects.toMatchObject({ constraint_name: 'payouts_amount_is_a_number' });
    // A manual payout below the minimum is the operator's call; within the balance it is accepted.
    const { id } = onlyRow(await db.sql<{ id: string }[]>`INSERT INTO payouts (user_id, amount) VALUES (${referrer}, 20.00) RETURNING id::text`);
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '30.00', inPayout: '20.00', paid: '0.00', total: '50.00' });
    await expect(insert('30.01')).rejects.toMatchObject({ constraint_name: 'payouts_do_not_exceed_the_available_balance' });

    await expect(db.sql`UPDATE payouts SET amount = 1 WHERE id = ${id}`).rejects.toMatchObject({ code: '23001' });
    await expect(db.sql`UPDATE payouts SET user_id = ${referrer} + 0, created_at = now() - interval '1 day' WHERE id = ${id}`).rejects.toMatchObject({ code: '23001' });
    await expect(db.sql`DELETE FROM payouts WHERE id = ${id}`).rejects.toMatchObject({ code: '23001', message: 'payouts cannot be deleted' });
    await expect(db.sql`TRUNCATE payouts CASCADE`).rejects.toMatchObject({ code: '23001' });
    await expect(db.sql`DELETE FROM payout_events`).rejects.toMatchObject({ code: '23001', message: 'payout_events cannot be changed directly' });
    await expect(db.sql`INSERT INTO payout_events (payout_id, user_id, seq, type) VALUES (${id}, ${referrer}, 99, 'payout_paid')`).rejects.toMatchObject({ code: '23001' });
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '30.00', inPayout: '20.00', paid: '0.00', total: '50.00' });
  });

  test('a user with nothing available gets no payout by hand either', async () => {
    const nobody = await createUser(db.sql);
    await expect(db.sql`INSERT INTO payouts (user_id, amount) VALUES (${nobody}, 0.01)`).rejects
      .toMatchObject({ constraint_name: 'payouts_do_not_exceed_the_available_balance' });
  });
});

describe('nothing lost, nothing invented', () => {
  test('1,000 random purchases, random refunds (some of paid commissions) and 20 payout rounds: payouts plus balances equal the exact earnings', async () => {
    const random = seededRandom(20261126);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    // A random referral forest of 40 users: each referred by an earlier one, or by nobody.
    const users: Array<{ id: number; referrer: number | null }> = [];
    for (let index = 0; index < 40; index++) {
      const referrer = index > 0 && random() < 0.85 ? pick(users).id : null;
      users.push({ id: await createUser(db.sql, referrer), referrer });
    }
    const ids = users.map((user) => user.id);
    const referrerOf = new Map(users.map((user) => [user.id, user.referrer]));
    // The exact earnings, in ten-thousandths, computed here apart from the database: rates 5% and 1%.
    const expected = new Map(ids.map((id) => [id, 0n]));
    const credit = (buyer: number, cents: bigint, sign: bigint) => {
      const level1 = referrerOf.get(buyer) ?? null;
      const level2 = level1 === null ? null : referrerOf.get(level1) ?? null;
      if (level1 !== null) expected.set(level1, expected.get(level1)! + sign * cents * 5n);
      if (level2 !== null) expected.set(level2, expected.get(level2)! + sign * cents * 1n);
    };
    const purchases: Array<{ id: string; buyer: number; left: bigint }> = [];
    const start = onlyRow(await db.sql<{ now: string }[]>`SELECT now()::text AS now`).now;
    let moment = start;
    /** Users seen with a negative available balance at the end of a round: refunds of commissions already paid. */
    const clawedBack = new Set<number>();

    for (let round = 1; round <= 20; round++) {
      const holding = pick(['0', '1 day', '3 days', '10 days']);
      const minimum = pick(['0', '0.01', '1.00', '50.00']);
      await setSettings(db.sql, { holdingPeriod: holding, minimumPayout: minimum });

      const bought = Array.from({ length: 50 }, () => ({ buyer: pick(ids), cents: BigInt(1 + Math.floor(random() * 500_000)) }));
      const inserted = await db.sql<{ id: string }[]>`
        INSERT INTO purchases (user_id, amount)
        SELECT * FROM unnest(${bought.map((p) => p.buyer)}::int[], ${bought.map((p) => centsText(p.cents))}::numeric[])
        RETURNING id::text`;
      bought.forEach((p, index) => {
        credit(p.buyer, p.cents, 1n);
        purchases.push({ id: inserted[index]!.id, buyer: p.buyer, left: p.cents });
      });

      for (let refunds = 0; refunds < 10; refunds++) {
        const refunded = pick(purchases);
        if (refunded.left === 0n) continue;
        const cents = random() < 0.3 ? refunded.left : 1n + BigInt(Math.floor(random() * Number(refunded.left)));
        await refund(db.sql, refunded.id, centsText(cents));
        refunded.left -= cents;
        credit(refunded.buyer, cents, -1n);
      }

      moment = onlyRow(await db.sql<{ moment: string }[]>`SELECT (${start}::text::timestamptz + ${round} * interval '1 day')::text AS moment`).moment;
      const { payouts, unpaid } = await atMoment(db.sql, moment, async (tx) => ({
        payouts: await createPayouts(tx, ids),
        // Right after the run, nobody has a payable balance left.
        unpaid: await tx`
          SELECT user_id, available::text FROM user_balances
          WHERE user_id = ANY(${ids}::int[]) AND trunc(available, 2) >= greatest((SELECT minimum_payout FROM program_settings), 0.01)`,
      }));
      expect(unpaid, `round ${round}`).toEqual([]);
      for (const payout of payouts) {
        expect(payout.amount).toMatch(/^\d+\.\d\d$/);
        const outcome = random();
        if (outcome < 0.7) await markPaid(db.sql, payout.id, `TX-${round}-${payout.id}`);
        else if (outcome < 0.85) await db.sql`SELECT mark_payout_failed(${payout.id}::bigint, 'bank rejected it')`;
        else if (outcome < 0.9) await db.sql`SELECT cancel_payout(${payout.id}::bigint)`;
      }

      const balances = await atMoment(db.sql, moment, (tx) => tx<Array<{ userId: number; pending: string; available: string; inPayout: string; paid: string; total: string }>>`
        SELECT user_id AS "userId", pending::text, available::text, in_payout::text AS "inPayout", paid::text, total::text
        FROM user_balances WHERE user_id = ANY(${ids}::int[]) ORDER BY user_id`);
      for (const balance of balances) {
        const exact = expected.get(balance.userId)!;
        // Each user's four states add up to their exact earnings, to the last decimal.
        expect(toTenThousandths(balance.pending) + toTenThousandths(balance.available) + toTenThousandths(balance.inPayout) + toTenThousandths(balance.paid),
          `round ${round}, user ${balance.userId}`).toBe(exact);
        expect(toTenThousandths(balance.total)).toBe(exact);
        if (balance.available.startsWith('-')) clawedBack.add(balance.userId);
      }
    }

    // Over all users, at the last round's moment: every payout held or paid, plus every balance left, is the exact sum of the earnings.
    const totals = onlyRow(await atMoment(db.sql, moment, (tx) => tx<{ payouts: string; pending: string; available: string; earnings: string; credits: number }[]>`
      SELECT (SELECT coalesce(sum(amount), 0)::text FROM payouts WHERE user_id = ANY(${ids}::int[]) AND status IN ('pending', 'paid')) AS payouts,
             (SELECT sum(pending)::text FROM user_balances WHERE user_id = ANY(${ids}::int[])) AS pending,
             (SELECT sum(available)::text FROM user_balances WHERE user_id = ANY(${ids}::int[])) AS available,
             (SELECT sum(amount)::text FROM earnings WHERE user_id = ANY(${ids}::int[])) AS earnings,
             (SELECT count(*)::int FROM earnings WHERE user_id = ANY(${ids}::int[]) AND refund_id IS NULL) AS credits`));
    const exactEarnings = [...expected.values()].reduce((sum, value) => sum + value, 0n);
    expect(totals.credits).toBeGreaterThanOrEqual(1000);
    // The run met every case: clawbacks, and payouts paid, failed and canceled.
    expect(clawedBack.size).toBeGreaterThan(0);
    expect((await db.sql`SELECT DISTINCT status FROM payouts WHERE user_id = ANY(${ids}::int[]) ORDER BY status`).map((row) => row.status))
      .toEqual(['canceled', 'failed', 'paid', 'pending']);
    expect(toTenThousandths(totals.earnings)).toBe(exactEarnings);
    expect(toTenThousandths(totals.payouts) + toTenThousandths(totals.pending) + toTenThousandths(totals.available)).toBe(exactEarnings);
  }, 120_000);
});

/** Mulberry32: the same "random" sequence from the same seed, so a failure can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const centsText = (cents: bigint) => `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;

/** "-12.3456" → -123456n: decimal text in ten-thousandths, exactly (every amount here has at most 4 decimals). */
function toTenThousandths(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{0,4}))?$/.exec(text);
  if (!match) throw new Error(`not a decimal with at most 4 decimals: ${text}`);
  const value = BigInt(match[2]!) * 10_000n + BigInt((match[3] ?? '').padEnd(4, '0'));
  return match[1] ? -value : value;
}
