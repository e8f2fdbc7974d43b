// create_payouts() from many connections at once never pays the same money
// twice, at any isolation level: at READ COMMITTED a run waits for the one
// before it and finds the money held; at REPEATABLE READ and SERIALIZABLE it
// fails with 40001 and, run again, finds nothing left to pay. A payout run
// racing a refund pays only what the refund left.

import { describe, expect, test } from 'vitest';
import { useTestDatabase, type Sql } from './support/database.js';
import { balanceOf, createPayouts, setSettings } from './support/payouts.js';
import { createBuyerWithReferrer, purchase } from './support/referrals.js';
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

/**
 * Waits until `count` backends wait for a lock behind backend `pid`: for it,
 * or (queued for the same row) for one that waits for it.
 */
function blockedBehind(pid: number, count: number) {
  return waitFor(`${count} transactions waiting behind backend ${pid}`, async () => {
    const { waiting } = onlyRow(await db.sql<{ waiting: number }[]>`
      WITH RECURSIVE behind (pid) AS (
          SELECT ${pid}::int
        UNION
          SELECT waiter.pid FROM pg_stat_activity waiter JOIN behind ON behind.pid = ANY (pg_blocking_pids(waiter.pid))
          WHERE waiter.datname = current_database()
      )
      SELECT count(*)::int - 1 AS waiting FROM behind`);
    return waiting >= count;
  });
}

/** Three referrers with 50.00, 99.9995 and 150.00 available (holding period 0). */
async function threeReferrersWithMoney(): Promise<number[]> {
  await setSettings(db.sql, { holdingPeriod: '0' });
  const referrers: number[] = [];
  for (const amount of ['1000', '1999.99', '3000']) {
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    await purchase(db.sql, buyer, amount);
    referrers.push(referrer);
  }
  return referrers;
}

/** Every payout of `users` that holds or paid money, as [user, amount]. */
async function payoutsHeld(users: number[]) {
  return (await db.sql<{ userId: number; amount: string }[]>`
    SELECT user_id AS "userId", decimal_text(amount) AS amount FROM payouts
    WHERE user_id = ANY(${users}::int[]) AND status IN ('pending', 'paid') ORDER BY user_id`).map((row) => [row.userId, row.amount]);
}

const isolationLevels = ['REPEATABLE READ', 'SERIALIZABLE'] as const;

describe('concurrent payout runs', () => {
  test('8 connections running create_payouts() behind an open run (READ COMMITTED) wait, then find the money held and pay nothing', async () => {
    const users = await threeReferrersWithMoney();
    const blocker = await openSession();
    const pools = Array.from({ length: 8 }, () => db.connect({ max: 1 }));
    try {
      expect((await createPayouts(blocker.sql, users)).map((payout) => payout.amount)).toEqual(['50.00', '99.99', '150.00']);
      const runs = pools.map((sql) => createPayouts(sql, users));
      await blockedBehind(blocker.pid, 8);
      await blocker.commit();
      expect(await Promise.all(runs)).toEqual(Array(8).fill([]));
    } finally {
      await blocker.end();
      await Promise.all(pools.map((sql) => sql.end()));
    }
    expect(await payoutsHeld(users)).toEqual([[users[0], '50.00'], [users[1], '99.99'], [users[2], '150.00']]);
    expect((await balanceOf(db.sql, users[1]!)).available).toBe('0.0095');
  });

  test.each(isolationLevels)('at %s the runs that lose the race fail with 40001 and, run again, pay nothing', async (isolation) => {
    const users = await threeReferrersWithMoney();
    const blocker = await openSession();
    const pools = Array.from({ length: 8 }, () => db.connect({ max: 1 }));
    const firstAttempts: string[] = [];
    let snapshots = 0;
    let openGate = () => undefined as void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    try {
      await createPayouts(blocker.sql, users);
      // The first attempts take their snapshots before the blocker commits, then run.
      const runOnce = (sql: Sql, first: boolean) => sql.begin(`isolation level ${isolation}`, async (tx) => {
        await tx`SELECT count(*) FROM payouts`;
        if (first) {
          snapshots += 1;
          await gate;
        }
        return createPayouts(tx, users);
      });
      const outcomes = Promise.all(pools.map(async (sql) => {
        for (let attempt = 1; attempt <= 50; attempt++) {
          try {
            const created = await runOnce(sql, attempt === 1);
            if (attempt === 1) firstAttempts.push('committed');
            return created;
          } catch (error) {
            const { code } = error as { code?: string };
            if (attempt === 1) firstAttempts.push(String(code));
            if (code !== '40001') throw error;
          }
        }
        throw new Error('still conflicting after 50 attempts');
      }));
      await waitFor('8 snapshots taken', () => snapshots === 8);
      openGate();
      await blockedBehind(blocker.pid, 8);
      await blocker.commit();
      expect(await outcomes).toEqual(Array(8).fill([]));
      expect(firstAttempts).toEqual(Array(8).fill('40001'));
    } finally {
      await blocker.end();
      await Promise.all(pools.map((sql) => sql.end()));
    }
    expect(await payoutsHeld(users)).toEqual([[users[0], '50.00'], [users[1], '99.99'], [users[2], '150.00']]);
  });

  test('64 runs from 8 connections, with purchases landing between them: every user is paid all but the sub-cent rest of what they earned, never more', async () => {
    await setSettings(db.sql, { holdingPeriod: '0', minimumPayout: '0.01' });
    const chains = await Promise.all(Array.from({ length: 6 }, () => createBuyerWithReferrer(db.sql)));
    const users = chains.map((chain) => chain.referrer);
    const pools = Array.from({ length: 8 }, () => db.connect({ max: 1 }));
    try {
      await Promise.all(pools.map(async (sql, connection) => {
        for (let round = 0; round < 4; round++) {
          await sql`INSERT INTO purchases (user_id, amount) SELECT * FROM unnest(${chains.map((chain) => chain.buyer)}::int[], ${chains.map(() => `${connection + 1}.${round}7`)}::numeric[])`;
          await createPayouts(sql, users);
          await createPayouts(sql, users);
        }
      }));
    } finally {
      await Promise.all(pools.map((sql) => sql.end()));
    }
    for (const user of users) {
      const balance = await balanceOf(db.sql, user);
      // Whatever interleaving happened, nothing was paid twice: what is left is under a cent, and never negative.
      expect(balance.available, `user ${user}`).toMatch(/^0\.00\d*$/);
      expect(balance.pending).toBe('0.00');
      const { held, earned } = onlyRow(await db.sql<{ held: string; earned: string }[]>`
        SELECT (SELECT decimal_text(sum(amount)) FROM payouts WHERE user_id = ${user}) AS held,
               (SELECT decimal_text(trunc(sum(amount), 2)) FROM earnings WHERE user_id = ${user}) AS earned`);
      expect(held).toBe(earned);
    }
  });
});

describe('a payout run racing a refund', () => {
  test('at READ COMMITTED a run behind an open refund waits, then pays only what the refund left', async () => {
    await setSettings(db.sql, { holdingPeriod: '0' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '2000'); // 100.00 available
    const refunding = await openSession();
    try {
      await refunding.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 1000)`;
      const run = createPayouts(db.sql, [referrer]);
      await blockedBehind(refunding.pid, 1);
      await refunding.commit();
      expect((await run).map((payout) => payout.amount)).toEqual(['50.00']);
    } finally {
      await refunding.end();
    }
    expect(await balanceOf(db.sql, referrer)).toEqual({ pending: '0.00', available: '0.00', inPayout: '50.00', paid: '0.00', total: '50.00' });
  });

  test.each(isolationLevels)('at %s a run whose snapshot predates a committed refund fails with 40001 rather than pay what was taken back', async (isolation) => {
    await setSettings(db.sql, { holdingPeriod: '0' });
    const { referrer, buyer } = await createBuyerWithReferrer(db.sql);
    const purchaseId = await purchase(db.sql, buyer, '2000');
    const runner = db.connect({ max: 1 });
    try {
      const attempt = runner.begin(`isolation level ${isolation}`, async (tx) => {
        await tx`SELECT count(*) FROM earnings`;
        await db.sql`INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, 1000)`;
        return createPayouts(tx, [referrer]);
      });
      await expect(attempt).rejects.toMatchObject({ code: '40001' });
      expect((await createPayouts(runner, [referrer])).map((payout) => payout.amount)).toEqual(['50.00']);
    } finally {
      await runner.end();
    }
  });
});
