// record_purchases(requests): many purchases in one call, each answered as
// if it had been made alone, in request order; a refused request changes
// nothing and refuses nothing else. The bridge records every HTTP purchase
// with it; SQL users may call it for receipts.

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { createBuyerWithTwoReferrers, createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();

interface Outcome {
  outcome: 'created' | 'replayed' | 'refused';
  receipt?: { purchase: { id: number; userId: number; amount: string; idempotencyKey: string | null }; earnings: Array<{ userId: number; level: number; amount: string; seq: number }> };
  error?: { code: string; message: string };
}

async function recordPurchases(requests: unknown): Promise<Outcome[]> {
  return onlyRow(await db.sql<{ outcomes: Outcome[] }[]>`SELECT record_purchases(${db.sql.json(requests as never)}) AS outcomes`).outcomes;
}

async function purchasesBy(userId: number): Promise<number> {
  return onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM purchases WHERE user_id = ${userId}`).count;
}

const key = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`;

describe('record_purchases', () => {
  test('answers every request in its order: receipts for the good ones, a code and message for each refused one, which records nothing', async () => {
    const { buyer, referrer, root } = await createBuyerWithTwoReferrers(db.sql);
    const taken = key('taken');
    await recordPurchases([{ userId: buyer, amount: '10.00', idempotencyKey: taken }]);

    const outcomes = await recordPurchases([
      { userId: buyer, amount: '1000.00' },
      { userId: buyer, amount: 10, idempotencyKey: taken },
      { userId: buyer, amount: '11.00', idempotencyKey: taken },
      { userId: 2_000_000_000, amount: '5' },
      { userId: 'four', amount: '5' },
      { userId: 4.5, amount: '5' },
      { userId: buyer, amount: 'NaN' },
      { userId: buyer, amount: '1e99999' },
      { userId: buyer, amount: '0' },
      { userId: buyer, amount: -3 },
      { userId: buyer, amount: '1000000000000' },
      { userId: buyer, amount: '1.005' },
      { userId: buyer, amount: '2.50', idempotencyKey: 'has a space' },
      { userId: buyer, amount: '2.50', idempotencyKey: 17 },
      { userId: buyer, amount: '12.5' },
    ]);

    expect(outcomes.map((outcome) => outcome.outcome === 'refused' ? outcome.error!.code : outcome.outcome)).toEqual([
      'created', 'replayed', 'IDEMPOTENCY_KEY_REUSED', 'USER_NOT_FOUND', 'INVALID_USER_ID', 'INVALID_USER_ID',
      'INVALID_AMOUNT', 'INVALID_AMOUNT', 'INVALID_AMOUNT', 'INVALID_AMOUNT', 'INVALID_AMOUNT', 'INVALID_AMOUNT',
      'INVALID_IDEMPOTENCY_KEY', 'INVALID_IDEMPOTENCY_KEY', 'created',
    ]);
    expect(outcomes.map((outcome) => outcome.error?.message).filter(Boolean)).toEqual([
      'this Idempotency-Key was already used for a different purchase; use a new key for a new purchase',
      'there is no user 2000000000',
      'userId must be a positive integer',
      'userId must be a positive integer',
      'amount must be a decimal number (or a string of one) such as 1000 or "1999.99"',
      'amount must be a decimal number (or a string of one) such as 1000 or "1999.99"',
      'amount must be greater than 0',
      'amount must be greater than 0',
      'amount must be at most 999999999999.99',
      'amount must have at most 2 decimals (it is never rounded)',
      'idempotencyKey must be 1 to 200 visible ASCII characters (no spaces)',
      'idempotencyKey must be 1 to 200 visible ASCII characters (no spaces)',
    ]);
    expect(outcomes[0]!.receipt).toMatchObject({
      purchase: { userId: buyer, amount: '1000.00', idempotencyKey: null },
      earnings: [{ userId: referrer, level: 1, amount: '50.00', seq: 2 }, { userId: root, level: 2, amount: '10.00', seq: 2 }],
    });
    expect(outcomes[1]!.receipt).toMatchObject({ purchase: { amount: '10.00', idempotencyKey: taken } });
    expect(outcomes[14]!.receipt).toMatchObject({ purchase: { amount: '12.50' }, earnings: [{ amount: '0.625', seq: 3 }, { amount: '0.125', seq: 3 }] });
    // The first purchase and the two created here; nothing for the refused ones.
    expect(await purchasesBy(buyer)).toBe(3);
  });

  test('a key used twice in one call: the first is created, the second replays it or is refused for another body', async () => {
    const buyer = await createUser(db.sql, await createUser(db.sql));
    const shared = key('shared');
    const outcomes = await recordPurchases([
      { userId: buyer, amount: '7.00', idempotencyKey: shared },
      { userId: buyer, amount: '7', idempotencyKey: shared },
      { userId: buyer, amount: '8.00', idempotencyKey: shared },
    ]);
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['created', 'replayed', 'refused']);
    expect(outcomes[1]!.receipt!.purchase.id).toBe(outcomes[0]!.receipt!.purchase.id);
    expect(await purchasesBy(buyer)).toBe(1);
  });

  test('anything but an array of objects is the caller\'s mistake: an exception that says what to pass, and nothing recorded', async () => {
    const buyer = await createUser(db.sql, await createUser(db.sql));
    await expect(recordPurchases({ userId: buyer, amount: '1' })).rejects.toMatchObject({
      code: '22023', message: 'record_purchases takes a JSON array of purchase requests, not object',
    });
    await expect(recordPurchases([{ userId: buyer, amount: '1' }, 'x'])).rejects.toMatchObject({ code: '22023' });
    expect(await purchasesBy(buyer)).toBe(0);
    expect(await recordPurchases([])).toEqual([]);
  });

  test('two sessions with the same key at once: one purchase, the other call replays it', async () => {
    const buyer = await createUser(db.sql, await createUser(db.sql));
    const racing = key('racing');
    const sessions = [db.connect({ max: 1 }), db.connect({ max: 1 })];
    try {
      const outcomes = await Promise.all(sessions.map(async (session) =>
        onlyRow(await session<{ outcomes: Outcome[] }[]>`
          SELECT record_purchases(${session.json([{ userId: buyer, amount: '3.00', idempotencyKey: racing }])}) AS outcomes`).outcomes[0]!));
      expect(outcomes.map((outcome) => outcome.outcome).sort()).toEqual(['created', 'replayed']);
      expect(new Set(outcomes.map((outcome) => outcome.receipt!.purchase.id)).size).toBe(1);
      expect(await purchasesBy(buyer)).toBe(1);
    } finally {
      await Promise.all(sessions.map((session) => session.end()));
    }
  });

  test('fifty purchases crediting one hot referrer in one call move its seq counter once, numbering its earnings 1 to 50', async () => {
    const hot = await createUser(db.sql);
    const buyers = await Promise.all(Array.from({ length: 50 }, () => createUser(db.sql, hot)));
    const { outcomes, counterWrites } = await db.sql.begin(async (tx) => {
      // Rows written to the counters, as this backend counts them: before and
      // after the call (PostgreSQL 15 may still count earlier transactions'
      // writes it has not reported yet, so only the difference is this call's).
      const counterRowsWritten = async () => onlyRow(await tx<{ writes: number }[]>`
        SELECT (n_tup_ins + n_tup_upd)::int AS writes FROM pg_stat_xact_user_tables WHERE relname = 'earning_sequences'`).writes;
      const before = await counterRowsWritten();
      const [row] = await tx<{ outcomes: Outcome[] }[]>`
        SELECT record_purchases(${tx.json(buyers.map((userId) => ({ userId, amount: '2.00' })))}) AS outcomes`;
      return { outcomes: row!.outcomes, counterWrites: (await counterRowsWritten()) - before };
    });
    expect(outcomes.every((outcome) => outcome.outcome === 'created')).toBe(true);
    expect(outcomes.map((outcome) => outcome.receipt!.earnings[0]!.seq)).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    expect(counterWrites).toBe(1);
  });

  test('an amount with more digits than numeric holds is refused alone, never the whole call', async () => {
    const buyer = await createUser(db.sql, await createUser(db.sql));
    const outcomes = await recordPurchases([
      { userId: buyer, amount: '10' },
      { userId: buyer, amount: '9'.repeat(140_000) },
      { userId: buyer, amount: `0.${'0'.repeat(17_000)}1` },
      { userId: buyer, amount: '1e999' },
    ]);
    expect(outcomes.map((outcome) => outcome.error?.code ?? outcome.outcome)).toEqual(['created', 'INVALID_AMOUNT', 'INVALID_AMOUNT', 'INVALID_AMOUNT']);
    expect(await purchasesBy(buyer)).toBe(1);
  });

  test('calls with the same keys in opposite orders wait for each other and never deadlock', async () => {
    const buyer = await createUser(db.sql, await createUser(db.sql));
    const sessions = [db.connect({ max: 1 }), db.connect({ max: 1 })];
    try {
      for (let round = 0; round < 10; round++) {
        const keys = Array.from({ length: 30 }, (_, index) => key(`round-${round}-${index}`));
        const requests = keys.map((idempotencyKey) => ({ userId: buyer, amount: '1.00', idempotencyKey }));
        const outcomes = await Promise.all([requests, [...requests].reverse()].map(async (batch, index) =>
          onlyRow(await sessions[index]!<{ outcomes: Outcome[] }[]>`SELECT record_purchases(${sessions[index]!.json(batch)}) AS outcomes`).outcomes));
        expect(outcomes.flat().filter((outcome) => outcome.outcome === 'created')).toHaveLength(30);
      }
      expect(await purchasesBy(buyer)).toBe(300);
    } finally {
      await Promise.all(sessions.map((session) => session.end()));
    }
  });
});
