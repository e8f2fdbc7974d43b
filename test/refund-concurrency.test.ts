// Refunds from many connections at once: the refunds of a purchase never add
// up to more than the purchase, at any isolation level (exactly the refunds
// that fit commit), and refunds and purchases together never deadlock and
// never leave a gap in anyone's seq.

import { describe, expect, test } from 'vitest';
import { useTestDatabase, type Sql } from './support/database.js';
import { createBuyerWithTwoReferrers, createUser, purchase } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();

/** A psql-like session on its own connection, with a transaction left open until it ends. */
async function openSession() {
  const session = db.connect({ max: 1 });
  await session`BEGIN`;
  const { pid } = onlyRow(await session<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`);
  return {
    sql: session,
    pid,
    commit: () => session`COMMIT`,
    async end() {
      await session`ROLLBACK`.catch(() => undefined);
      await session.end();
    },
  };
}

/** Waits until `count` backends wait for a lock held by backend `pid`. */
function blockedBehind(pid: number, count: number) {
  return waitFor(`${count} refunds waiting for backend ${pid}`, async () => {
    const { waiting } = onlyRow(await db.sql<{ waiting: number }[]>`
      SELECT count(*)::int AS waiting FROM pg_stat_activity
      WHERE datname = current_database() AND ${pid}::int = ANY (pg_blocking_pids(pid))`);
    return waiting >= count;
  });
}

async function refundedOf(purchaseId: string) {
  return onlyRow(await db.sql<{ refunds: number; sum: string; total: string }[]>`
    SELECT count(*)::int AS refunds, sum(r.amount)::text AS sum,
           (SELECT refunded::text FROM purchase_refund_totals WHERE purchase_id = ${purchaseId}) AS total
    FROM refunds r WHERE r.purchase_id = ${purchaseId}`);
}

async function totalOf(userId: number): Promise<string> {
  return onlyRow(await db.sql<{ total: string }[]>`
    SELECT decimal_text(sum(amount)) AS total FROM earnings WHERE user_id = ${userId}`).total;
}

const isolationLevels = ['REPEATABLE READ', 'SERIALIZABLE'] as const;

describe('concurrent refunds of one purchase', () => {
  test('8 connections refunding 30.00 each of what is left of 100.00: exactly the 3 that fit commit (READ COMMITTED)', async () => {
    const { root, referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100.00');
    const blocker = await openSession();
    const pools = Array.from({ length: 8 }, () => db.connect({ max: 1 }));
    try {
      // The first refund holds the purchase's total until it commits, so all 8 wait for it.
      await blocker.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 10)`;
      const attempts = pools.map((sql) => sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 30)`.then(
        () => 'committed',
        (error: { code?: string; constraint_name?: string }) => `${error.code} ${error.constraint_name}`,
      ));
      await blockedBehind(blocker.pid, 8);
      await blocker.commit();
      const outcomes = await Promise.all(attempts);
      expect(outcomes.filter((outcome) => outcome === 'committed')).toHaveLength(3);
      expect(outcomes.filter((outcome) => outcome !== 'committed')).toEqual(Array(5).fill('23514 refunds_do_not_exceed_the_purchase'));
    } finally {
      await blocker.end();
      await Promise.all(pools.map((sql) => sql.end()));
    }
    expect(await refundedOf(purchaseId)).toEqual({ refunds: 4, sum: '100', total: '100' });
    expect(await totalOf(referrer)).toBe('0.00');
    expect(await totalOf(root)).toBe('0.00');
  });

  test.each(isolationLevels)('at %s the refunds that lose the race fail with 40001 and run again: exactly the 3 that fit commit', async (isolation) => {
    const { referrer, buyer } = await createBuyerWithTwoReferrers(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '100.00');
    const blocker = await openSession();
    const pools = Array.from({ length: 8 }, () => db.connect({ max: 1 }));
    const firstAttempts: string[] = [];
    let snapshots = 0;
    let openGate = () => undefined as void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    try {
      await blocker.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 10)`;
      // The first attempts take their snapshots before the blocker commits, then refund.
      const refundOnce = (sql: Sql, first: boolean) => sql.begin(`isolation level ${isolation}`, async (tx) => {
        await tx`SELECT count(*) FROM refunds`;
        if (first) {
          snapshots += 1;
          await gate;
        }
        await tx`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 30)`;
      });
      const outcomes = Promise.all(pools.map(async (sql) => {
        for (let attempt = 1; attempt <= 50; attempt++) {
          try {
            await refundOnce(sql, attempt === 1);
            if (attempt === 1) firstAttempts.push('committed');
            return 'committed';
          } catch (error) {
            const { code, constraint_name: constraint } = error as { code?: string; constraint_name?: string };
            if (attempt === 1) firstAttempts.push(String(code));
            if (code !== '40001') return `${code} ${constraint}`;
          }
        }
        return 'still conflicting after 50 attempts';
      }));
      await waitFor('8 snapshots taken', () => snapshots === 8);
      openGate();
      await blockedBehind(blocker.pid, 8);
      await blocker.commit();
      const results = await outcomes;
      expect(firstAttempts).toEqual(Array(8).fill('40001'));
      expect(results.filter((outcome) => outcome === 'committed')).toHaveLength(3);
      expect(results.filter((outcome) => outcome !== 'committed')).toEqual(Array(5).fill('23514 refunds_do_not_exceed_the_purchase'));
    } finally {
      await blocker.end();
      await Promise.all(pools.map((sql) => sql.end()));
    }
    expect(await refundedOf(purchaseId)).toEqual({ refunds: 4, sum: '100', total: '100' });
    expect(await totalOf(referrer)).toBe('0.00');
  });
});

describe('refunds and purchases together', () => {
  test('6 connections refunding and buying at once, one row or many in any order, never deadlock and leave every seq gap-free', async () => {
    // Two trees whose buyers share referrers, so that statements overlap.
    const roots = [await createUser(db.sql), await createUser(db.sql)];
    const referrers = [await createUser(db.sql, roots[0]!), await createUser(db.sql, roots[1]!), await createUser(db.sql, roots[0]!)];
    const buyers = await Promise.all(referrers.flatMap((referrer) => [createUser(db.sql, referrer), createUser(db.sql, referrer)]));
    const purchases = await Promise.all(buyers.flatMap((buyer) => [purchase(db.sql, buyer, '1000'), purchase(db.sql, buyer, '999.99')]));

    const shuffled = <T>(items: T[]) => items.map((item) => ({ item, key: Math.random() })).sort((a, b) => a.key - b.key).map(({ item }) => item);
    const pools = Array.from({ length: 6 }, () => db.connect({ max: 1 }));
    const errors: string[] = [];
    try {
      await Promise.all(pools.map(async (sql, connection) => {
        for (let round = 0; round < 30; round++) {
          const statement = (connection + round) % 3;
          const work = statement === 0
            ? sql`INSERT INTO refunds (purchase_id, amount) SELECT * FROM unnest(${shuffled(purchases).slice(0, 5)}::bigint[], ${Array(5).fill('0.01')}::numeric[])`
            : statement === 1
              ? sql`INSERT INTO purchases (user_id, amount) SELECT * FROM unnest(${shuffled(buyers).slice(0, 4)}::int[], ${Array(4).fill('1.00')}::numeric[])`
              : sql`INSERT INTO refunds (purchase_id, amount) VALUES (${shuffled(purchases)[0]!}, 0.02)`;
          await work.catch((error: { code?: string; message?: string }) => errors.push(`${error.code}: ${error.message}`));
        }
      }));
    } finally {
      await Promise.all(pools.map((sql) => sql.end()));
    }
    expect(errors).toEqual([]);

    const users = [...roots, ...referrers];
    const seqs = await db.sql<{ userId: number; count: number; distinctSeqs: number; maxSeq: number; lastSeq: number }[]>`
      SELECT e.user_id AS "userId", count(*)::int AS count, count(DISTINCT e.seq)::int AS "distinctSeqs",
             max(e.seq)::int AS "maxSeq", max(s.last_seq)::int AS "lastSeq"
      FROM earnings e JOIN earning_sequences s USING (user_id)
      WHERE e.user_id = ANY(${users}::int[]) GROUP BY e.user_id`;
    expect(seqs).toHaveLength(users.length);
    for (const row of seqs) expect(row).toEqual({ userId: row.userId, count: row.count, distinctSeqs: row.count, maxSeq: row.count, lastSeq: row.count });

    // Every reversal is exactly its refund × its credit's rate, and every total is the sum of its refunds.
    const wrong = await db.sql`
      SELECT e.id FROM earnings e JOIN refunds r ON r.id = e.refund_id JOIN earnings credit ON credit.id = e.reverses_earning_id
      WHERE e.amount <> -(r.amount * credit.rate) OR credit.user_id <> e.user_id OR credit.purchase_id <> r.purchase_id
      UNION ALL
      SELECT t.purchase_id FROM purchase_refund_totals t
      WHERE t.refunded <> (SELECT sum(amount) FROM refunds WHERE purchase_id = t.purchase_id)`;
    expect(wrong).toEqual([]);
  });
});
