// Many connections inserting purchases at once, single rows and bulk
// statements in different row orders, all crediting one hot referrer: every
// purchase is credited exactly once, every user's seq is gap-free, and no
// statement deadlocks.

import { describe, expect, test } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';

const db = useTestDatabase();

const connections = 8;
const purchasesPerConnection = 500;

describe('concurrent purchases', () => {
  test('8 connections inserting 4,000 purchases under a shared hot referrer credit each exactly once, with gap-free seqs', async () => {
    // root ← hot ← (20 direct buyers, and 5 middles ← 4 buyers each)
    const root = await createUser(db.sql);
    const hot = await createUser(db.sql, root);
    const referrerOf = new Map<number, number>([[hot, root]]);
    const buyers: number[] = [];
    for (let i = 0; i < 20; i++) buyers.push(await addUser(hot));
    for (let m = 0; m < 5; m++) {
      const middle = await addUser(hot);
      for (let i = 0; i < 4; i++) buyers.push(await addUser(middle));
    }
    async function addUser(referrer: number): Promise<number> {
      const user = await createUser(db.sql, referrer);
      referrerOf.set(user, referrer);
      return user;
    }
    const users = [root, ...referrerOf.keys()];
    const referrerOfUser = (userId: number): number => {
      const referrer = referrerOf.get(userId);
      if (referrer === undefined) throw new Error(`user ${userId} has no referrer`);
      return referrer;
    };

    // Each connection: 100 single-row inserts and 4 bulk statements of 100
    // rows, in ascending, descending and shuffled buyer order.
    const random = seededRandom(7);
    const plans = Array.from({ length: connections }, (_, connection) => {
      const rows = Array.from({ length: purchasesPerConnection }, (_, i) => ({
        userId: pick(buyers, random()),
        cents: BigInt(1 + Math.floor(random() * 10_000_00)),
        single: i < 100,
      }));
      const bulk = rows.filter((row) => !row.single);
      const ascending = bulk.slice(0, 100).sort((a, b) => a.userId - b.userId);
      const descending = bulk.slice(100, 200).sort((a, b) => b.userId - a.userId);
      const batches = [ascending, descending, bulk.slice(200, 300), bulk.slice(300, 400)];
      if (connection % 2 === 1) batches.reverse();
      return { singles: rows.filter((row) => row.single), batches };
    });

    // Each connection: 25 single rows, then a bulk statement, four times.
    const runs = plans.map((plan) => ({ plan, sql: db.connect({ max: 1 }) }));
    try {
      await Promise.all(runs.map(async ({ plan, sql }) => {
        for (const [b, batch] of plan.batches.entries()) {
          for (const row of plan.singles.slice(b * 25, b * 25 + 25)) {
            await sql`INSERT INTO purchases (user_id, amount) VALUES (${row.userId}, ${decimal(row.cents, 2)})`;
          }
          await sql`
            INSERT INTO purchases (user_id, amount)
            SELECT user_id, amount
            FROM unnest(${batch.map((row) => row.userId)}::int[], ${batch.map((row) => decimal(row.cents, 2))}::numeric[])
                 WITH ORDINALITY AS batch (user_id, amount, position)
            ORDER BY position`;
        }
      }));
    } finally {
      await Promise.all(runs.map(({ sql }) => sql.end()));
    }

    // The exact expected ledger, computed here in integer cents.
    const expected = new Map<string, { count: number; tenThousandths: bigint }>();
    const credit = (userId: number, level: number, tenThousandths: bigint) => {
      const key = `${userId}/${level}`;
      const entry = expected.get(key) ?? { count: 0, tenThousandths: 0n };
      entry.count += 1;
      entry.tenThousandths += tenThousandths;
      expected.set(key, entry);
    };
    for (const plan of plans) {
      for (const row of [...plan.singles, ...plan.batches.flat()]) {
        const level1 = referrerOfUser(row.userId);
        credit(level1, 1, row.cents * 5n);
        credit(referrerOfUser(level1), 2, row.cents * 1n);
      }
    }

    const actual = await db.sql<{ key: string; count: number; total: string }[]>`
      SELECT user_id || '/' || level AS key, count(*)::int AS count, sum(amount)::text AS total
      FROM earnings WHERE user_id = ANY (${users}::int[]) GROUP BY user_id, level`;
    expect(new Map(actual.map((row) => [row.key, { count: row.count, total: row.total }]))).toEqual(
      new Map([...expected].map(([key, value]) => [key, { count: value.count, total: decimal(value.tenThousandths, 4) }])),
    );
    const { purchases } = onlyRow(await db.sql<{ purchases: number }[]>`
      SELECT count(*)::int AS purchases FROM purchases WHERE user_id = ANY (${buyers}::int[])`);
    expect(purchases).toBe(connections * purchasesPerConnection);

    const seqs = await db.sql<{ userId: number; count: number; distinctSeqs: number; minSeq: number; maxSeq: number; lastSeq: number }[]>`
      SELECT e.user_id AS "userId", count(*)::int AS count, count(DISTINCT e.seq)::int AS "distinctSeqs",
             min(e.seq)::int AS "minSeq", max(e.seq)::int AS "maxSeq", s.last_seq::int AS "lastSeq"
      FROM earnings e JOIN earning_sequences s USING (user_id)
      WHERE e.user_id = ANY (${users}::int[])
      GROUP BY e.user_id, s.last_seq`;
    for (const row of seqs) {
      expect(row, `seq of user ${row.userId}`).toEqual({
        userId: row.userId, count: row.count, distinctSeqs: row.count, minSeq: 1, maxSeq: row.count, lastSeq: row.count,
      });
    }
    // The hot referrer earns on every purchase, at level 1 or 2.
    expect(seqs.find((row) => row.userId === hot)?.count).toBe(connections * purchasesPerConnection);
  });
});

/** The element at `fraction` (0 ≤ fraction < 1) of the way through `items`. */
function pick<T>(items: readonly T[], fraction: number): T {
  const item = items[Math.floor(fraction * items.length)];
  if (item === undefined) throw new Error(`nothing at ${fraction} of ${items.length} items`);
  return item;
}

function decimal(units: bigint, scale: number): string {
  const digits = units.toString().padStart(scale + 1, '0');
  return `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}
