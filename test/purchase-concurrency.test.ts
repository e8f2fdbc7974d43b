// HTTP purchases against other transactions holding the rows they need: a
// purchase waits only for the rows it touches, a deadlock victim is retried,
// and a conflict that outlasts its retries is a 503 the client may retry,
// never a 500. The other transaction is a psql-like session on its own
// connection, its transaction left open for as long as the test needs.

import { describe, expect, test } from 'vitest';
import { createPurchaseBatcher } from '../bridge/src/purchase-batcher.js';
import { maxPurchaseAttempts } from '../bridge/src/purchase-retries.js';
import { startTestBridge, useTestBridge, type TestBridge } from './support/bridge.js';
import { useTestDatabase } from './support/database.js';
import { callBridge } from './support/http.js';
import { createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();
const bridge = useTestBridge(db);

const purchase = (userId: number, amount: string, on: TestBridge = bridge) =>
  callBridge(on.http, 'POST', '/api/purchase', { userId, amount });

/** A psql-like session: its own connection, with a transaction open until it ends. */
async function openSession() {
  const sql = db.connect({ max: 1 });
  await sql`BEGIN`;
  const { pid } = onlyRow(await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`);
  return {
    sql,
    pid,
    async commit() {
      await sql`COMMIT`;
    },
    /** Rolls back whatever is still open and closes the connection. */
    async end() {
      await sql`ROLLBACK`.catch(() => undefined);
      await sql.end();
    },
  };
}

/** Waits until `count` of the bridge's purchase batches wait for a lock that the session holds. */
function purchaseBlockedBy(sessionPid: number, count = 1) {
  return waitFor(`${count} bridge purchase batch(es) waiting for a lock held by backend ${sessionPid}`, async () => {
    const blocked = await db.sql<{ pid: number }[]>`
      SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'referral-bridge'
        AND wait_event_type = 'Lock' AND query ILIKE '%record_purchases%'
        AND ${sessionPid}::int = ANY (pg_blocking_pids(pid))`;
    return blocked.length >= count;
  }, 5000);
}

/** The promise's value, or a failure saying what did not happen in time. */
async function within<T>(ms: number, description: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${description}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** purchase_transaction_retries_total for one SQLSTATE, as GET /metrics shows it. */
async function retriesCounted(sqlState: string, on: TestBridge = bridge): Promise<number> {
  const { text } = await callBridge(on.http, 'GET', '/metrics');
  const line = text.split('\n').find((row) => row.startsWith(`purchase_transaction_retries_total{code="${sqlState}"} `));
  return Number(line?.split(' ')[1] ?? 0);
}

/**
 * A test-only trigger: every insert of a purchase of `amount` fails with a
 * serialization failure (40001) for its first `failures` attempts. Attempts
 * are counted with a sequence, which a rollback does not undo.
 */
async function conflictsOnAmount(amount: string, failures: number | 'every attempt') {
  const name = `test_conflict_${amount.replace('.', '_')}`;
  const failing = failures === 'every attempt' ? Number.MAX_SAFE_INTEGER : failures;
  await db.sql.unsafe(`
    CREATE SEQUENCE ${name};
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('${name}') <= ${failing} THEN
        RAISE EXCEPTION 'test: a serialization failure' USING ERRCODE = 'serialization_failure';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER ${name} BEFORE INSERT ON purchases FOR EACH ROW WHEN (NEW.amount = ${amount}) EXECUTE FUNCTION ${name}();`);
  return {
    async attempts(): Promise<number> {
      return onlyRow(await db.sql.unsafe<{ attempts: number }[]>(
        `SELECT CASE WHEN is_called THEN last_value ELSE 0 END::int AS attempts FROM ${name}`)).attempts;
    },
    async drop() {
      await db.sql.unsafe(`DROP TRIGGER ${name} ON purchases; DROP FUNCTION ${name}(); DROP SEQUENCE ${name};`);
    },
  };
}

async function purchasesOf(buyer: number): Promise<number> {
  return onlyRow(await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM purchases WHERE user_id = ${buyer}`).count;
}

/** Each user's earnings are numbered 1 … n without a gap, and their counter says n. */
async function expectGapFreeSeqs(userIds: number[]) {
  const rows = await db.sql<{ userId: number; count: number; maxSeq: number; lastSeq: number }[]>`
    SELECT s.user_id AS "userId", count(e.id)::int AS count, coalesce(max(e.seq), 0)::int AS "maxSeq", s.last_seq::int AS "lastSeq"
    FROM earning_sequences s LEFT JOIN earnings e USING (user_id)
    WHERE s.user_id = ANY (${userIds}::int[])
    GROUP BY s.user_id, s.last_seq`;
  for (const row of rows) expect(row, `seqs of user ${row.userId}`).toEqual({ ...row, maxSeq: row.count, lastSeq: row.count });
}

describe('a purchase waits only for the rows it touches', () => {
  test('while a session holds a referrer\'s counter, unrelated HTTP purchases answer 201 at once, and the blocked one after the commit', async () => {
    const held = await createUser(db.sql);
    const sessionBuyer = await createUser(db.sql, held);
    const blockedBuyer = await createUser(db.sql, held);
    const other = await createUser(db.sql);
    const otherBuyer = await createUser(db.sql, other);
    const loner = await createUser(db.sql);

    const session = await openSession();
    try {
      await session.sql`INSERT INTO purchases (user_id, amount) VALUES (${sessionBuyer}, 100)`;
      const blocked = purchase(blockedBuyer, '200');
      await purchaseBlockedBy(session.pid);

      // The lock is held until the commit below: a purchase queued behind the
      // blocked one would never answer, so the bound only turns a hang into a failure.
      const [alone, crediting] = await within(1000, 'purchases that need no held row, while the lock is held',
        Promise.all([purchase(loner, '10'), purchase(otherBuyer, '20')]));
      expect(alone.status).toBe(201);
      expect(alone.json.earnings).toEqual([]);
      expect(crediting.status).toBe(201);
      expect(crediting.json.earnings).toEqual([expect.objectContaining({ userId: other, level: 1, amount: '1.00', seq: 1 })]);

      await session.commit();
      const unblocked = await within(5000, 'the blocked purchase, after the commit', blocked);
      expect(unblocked.status).toBe(201);
      expect(unblocked.json.earnings).toEqual([expect.objectContaining({ userId: held, level: 1, amount: '10.00', seq: 2 })]);
    } finally {
      await session.end();
    }
  });
});

describe('batches start at once while few run, and beside blocked ones after a moment', () => {
  test('two batches held by a lock do not hold up a third purchase that needs no held row', async () => {
    const held = await createUser(db.sql);
    const [sessionBuyer, firstBuyer, secondBuyer] = [await createUser(db.sql, held), await createUser(db.sql, held), await createUser(db.sql, held)];
    const loner = await createUser(db.sql);

    const session = await openSession();
    try {
      await session.sql`INSERT INTO purchases (user_id, amount) VALUES (${sessionBuyer}, 100)`;
      const first = purchase(firstBuyer, '10');
      await purchaseBlockedBy(session.pid, 1);
      // A second batch starts at once, beside the first, and waits too.
      const second = purchase(secondBuyer, '20');
      await purchaseBlockedBy(session.pid, 2);

      // Both eager batches are waiting: after the batcher's patience a third starts for this one.
      const alone = await within(1000, 'a purchase that needs no held row, while two batches wait', purchase(loner, '5'));
      expect(alone.status).toBe(201);

      await session.commit();
      const answers = await within(5000, 'the held purchases, after the commit', Promise.all([first, second]));
      expect(answers.map((answer) => answer.status)).toEqual([201, 201]);
      expect(answers.map((answer) => answer.json.earnings[0].seq).sort()).toEqual([2, 3]);
    } finally {
      await session.end();
    }
  });
});

describe('deadlocks and serialization failures are retried, never a 500', () => {
  test('an HTTP purchase chosen as a deadlock victim is run again and answers 201; the ledger stays gap-free', async () => {
    // top ← mid ← buyer: the HTTP purchase credits mid and top, locking top
    // first (user-id order). mid ← side ← sideBuyer: the session's first
    // purchase credits side and mid, but not top. top ← topBuyer: its second
    // purchase credits top, closing the cycle.
    const top = await createUser(db.sql);
    const mid = await createUser(db.sql, top);
    const side = await createUser(db.sql, mid);
    const buyer = await createUser(db.sql, mid);
    const sideBuyer = await createUser(db.sql, side);
    const topBuyer = await createUser(db.sql, top);
    const retriesBefore = await retriesCounted('40P01');

    const session = await openSession();
    let sessionOutcome: 'committed' | 'deadlock victim';
    try {
      // The bridge's backend checks for a deadlock after the default 1 s and
      // aborts itself; the session would check only after 3 s.
      await session.sql`SET LOCAL deadlock_timeout = '3s'`;
      await session.sql`INSERT INTO purchases (user_id, amount) VALUES (${sideBuyer}, 100)`;
      const answer = purchase(buyer, '1000');
      await purchaseBlockedBy(session.pid);
      try {
        await session.sql`INSERT INTO purchases (user_id, amount) VALUES (${topBuyer}, 100)`;
        await session.commit();
        sessionOutcome = 'committed';
      } catch (error) {
        // Only if the bridge's check ran before the cycle closed: then the session is the victim.
        expect((error as { code?: string }).code).toBe('40P01');
        sessionOutcome = 'deadlock victim';
      }

      const response = await within(10_000, 'the HTTP purchase caught in the deadlock', answer);
      expect({ status: response.status, body: response.json }).toEqual({ status: 201, body: expect.objectContaining({ earnings: [
        expect.objectContaining({ userId: mid, level: 1, amount: '50.00' }),
        expect.objectContaining({ userId: top, level: 2, amount: '10.00' }),
      ] }) });
    } finally {
      await session.end();
    }

    expect(await purchasesOf(buyer)).toBe(1);
    const sessionPurchases = sessionOutcome === 'committed' ? 1 : 0;
    expect([await purchasesOf(sideBuyer), await purchasesOf(topBuyer)]).toEqual([sessionPurchases, sessionPurchases]);
    expect(await retriesCounted('40P01')).toBe(retriesBefore + (sessionOutcome === 'committed' ? 1 : 0));
    await expectGapFreeSeqs([top, mid, side]);
  });

  describe.each([
    ['grouped', {}],
    ['ungrouped (PURCHASE_BATCHING=false)', { PURCHASE_BATCHING: 'false' }],
  ])('%s', (mode, env) => {
    test(`a conflict on every attempt is 503 TRANSACTION_CONFLICT with Retry-After after ${maxPurchaseAttempts} attempts, and writes nothing`, async () => {
      const amount = mode === 'grouped' ? '13.13' : '13.14';
      const conflicts = await conflictsOnAmount(amount, 'every attempt');
      const own = await startTestBridge(db.url, env);
      try {
        const referrer = await createUser(db.sql);
        const buyer = await createUser(db.sql, referrer);
        const response = await purchase(buyer, amount, own);
        expect({ status: response.status, code: response.json?.error?.code }).toEqual({ status: 503, code: 'TRANSACTION_CONFLICT' });
        expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        expect(await conflicts.attempts()).toBe(maxPurchaseAttempts);
        expect(await retriesCounted('40001', own)).toBe(maxPurchaseAttempts - 1);
        expect(await purchasesOf(buyer)).toBe(0);
        const [credited] = await db.sql`SELECT 1 FROM earning_sequences WHERE user_id = ${referrer}`;
        expect(credited).toBeUndefined();
      } finally {
        await own.stop();
        await conflicts.drop();
      }
    });

    test('a conflict on the first two attempts is retried: 201, the purchase written once', async () => {
      const amount = mode === 'grouped' ? '14.14' : '14.15';
      const conflicts = await conflictsOnAmount(amount, 2);
      const own = await startTestBridge(db.url, env);
      try {
        const referrer = await createUser(db.sql);
        const buyer = await createUser(db.sql, referrer);
        const response = await purchase(buyer, amount, own);
        expect(response.status).toBe(201);
        expect(response.json.earnings).toEqual([expect.objectContaining({ userId: referrer, level: 1, seq: 1 })]);
        expect(await conflicts.attempts()).toBe(3);
        expect(await retriesCounted('40001', own)).toBe(2);
        expect(await purchasesOf(buyer)).toBe(1);
      } finally {
        await own.stop();
        await conflicts.drop();
      }
    });
  });

  test('a request refused for its data refuses nothing else: the batch is one call, retried whole after a conflict', async () => {
    const conflicts = await conflictsOnAmount('16.16', 2);
    const retries: string[] = [];
    // One batch at a time: the first request runs alone, the next two wait and form the second batch.
    const batcher = createPurchaseBatcher(db.sql, { maxInFlight: 1, onRetry: (sqlState) => retries.push(sqlState) });
    try {
      const referrer = await createUser(db.sql);
      const buyer = await createUser(db.sql, referrer);
      const [first, unknownBuyer, retried] = await Promise.allSettled([
        batcher.record({ userId: buyer, amount: '1.00', idempotencyKey: undefined }),
        batcher.record({ userId: 2_000_000_000, amount: '1.00', idempotencyKey: undefined }),
        batcher.record({ userId: buyer, amount: '16.16', idempotencyKey: undefined }),
      ]);

      expect(first).toMatchObject({ status: 'fulfilled', value: { created: true } });
      expect(unknownBuyer).toMatchObject({ status: 'rejected', reason: { code: 'USER_NOT_FOUND', message: 'there is no user 2000000000' } });
      expect(retried).toMatchObject({ status: 'fulfilled', value: { created: true, receipt: { purchase: { userId: buyer, amount: '16.16' } } } });
      // The second batch: two conflicts, then the same call again, which records 16.16.
      expect(await conflicts.attempts()).toBe(3);
      expect(retries).toEqual(['40001', '40001']);
      expect(await purchasesOf(buyer)).toBe(2);
    } finally {
      await conflicts.drop();
    }
  });
});
