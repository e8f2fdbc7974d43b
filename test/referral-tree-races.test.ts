// Concurrent changes of the referral tree cannot close a cycle between them,
// at any isolation level and whichever arrives first: the second waits for the
// first and then sees its change (READ COMMITTED), or fails with a
// serialization failure that its caller retries (REPEATABLE READ and
// SERIALIZABLE). Each test keeps the first transaction open until the second
// is seen waiting for a lock, so the order of arrival is certain, not timed.

import type postgres from 'postgres';
import { beforeAll, describe, expect, test } from 'vitest';
import { useTestDatabase, type Sql } from './support/database.js';
import { createUser } from './support/referrals.js';
import { onlyRow } from './support/rows.js';
import { waitFor } from './support/wait.js';

const db = useTestDatabase();

const isolationLevels = ['read committed', 'repeatable read', 'serializable'] as const;
type IsolationLevel = (typeof isolationLevels)[number];

// A test-only pause for the insert race: a BEFORE ROW trigger (those run in
// name order) after the cycle check that, when its transaction asks, waits
// for an advisory lock the test holds.
const pauseLockKey = 80_080_001;

beforeAll(async () => {
  await db.sql.unsafe(`
    CREATE FUNCTION test_pause_after_cycle_check() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('test.pause_after_cycle_check', true) = 'on' THEN
        PERFORM pg_advisory_xact_lock_shared(${pauseLockKey});
      END IF;
      RETURN NEW;
    END;
    $$;
    CREATE TRIGGER tg_users__zz_test_pause_after_cycle_check
      BEFORE INSERT OR UPDATE OF id, referred_by ON users
      FOR EACH ROW EXECUTE FUNCTION test_pause_after_cycle_check();`);
});

interface Session {
  sql: Sql;
  pid: number;
}

/** One connection of its own, and its backend's pid. */
async function openSession(): Promise<Session> {
  const sql = db.connect({ max: 1 });
  const { pid } = onlyRow(await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`);
  return { sql, pid };
}

interface OpenTransaction {
  /** Commits once the statements ran; resolves when the transaction has ended. */
  commit(): Promise<unknown>;
}

/** Runs `statements` in a transaction at `level`, and keeps it open until commit() is called. */
async function openTransaction(session: Session, level: IsolationLevel, statements: (sql: postgres.TransactionSql) => Promise<unknown>): Promise<OpenTransaction> {
  let mayCommit!: () => void;
  const commitAllowed = new Promise<void>((resolve) => (mayCommit = resolve));
  let ran!: () => void;
  const statementsRan = new Promise<void>((resolve) => (ran = resolve));
  const ended = session.sql.begin(`isolation level ${level}`, async (sql) => {
    await statements(sql);
    ran();
    await commitAllowed;
  });
  await Promise.race([statementsRan, ended]);
  return {
    commit() {
      mayCommit();
      return ended;
    },
  };
}

/** Resolves once the session's backend waits for a lock (or its work already ended). */
async function waitUntilBlocked(session: Session, work: Promise<unknown>): Promise<void> {
  let ended = false;
  void work.then(() => (ended = true), () => (ended = true));
  await waitFor(`backend ${session.pid} to wait for a lock`, async () => {
    const { blocked } = onlyRow(await db.sql<{ blocked: boolean }[]>`SELECT cardinality(pg_blocking_pids(${session.pid})) > 0 AS blocked`);
    return blocked || ended;
  });
}

async function referrersOf(ids: number[]): Promise<Record<number, number | null>> {
  const rows = await db.sql<{ id: number; referredBy: number | null }[]>`
    SELECT id, referred_by AS "referredBy" FROM users WHERE id = ANY(${ids}::int[])`;
  return Object.fromEntries(rows.map((row) => [row.id, row.referredBy]));
}

const settled = async (work: Promise<unknown>) => (await Promise.allSettled([work]))[0];

/** Opens one session per name, runs `use` with them, and ends them. */
async function withSessions<Name extends string, T>(names: Name[], use: (sessions: Record<Name, Session>) => Promise<T>): Promise<T> {
  const opened = await Promise.all(names.map(async (name) => [name, await openSession()] as const));
  try {
    return await use(Object.fromEntries(opened) as Record<Name, Session>);
  } finally {
    await Promise.all(opened.map(([, session]) => session.sql.end()));
  }
}

/** At READ COMMITTED the second change sees the first and is refused as a cycle; above, it may be refused as out of date. */
function expectRefusal(outcome: PromiseSettledResult<unknown>, level: IsolationLevel, cycleMessage?: string): void {
  expect(outcome.status).toBe('rejected');
  const error = (outcome as PromiseRejectedResult).reason as { code: string };
  if (level === 'read committed') {
    expect(error).toMatchObject({ code: '23514', constraint_name: 'users_referral_is_acyclic', message: cycleMessage });
  } else {
    expect(['40001', '23514']).toContain(error.code);
  }
}

describe.each(isolationLevels)('referrer changes at %s', (level) => {
  test.each([
    ['the older user changes first', 'older'],
    ['the newer user changes first', 'newer'],
  ])('two changes that would close a cycle between them: the second fails and the first commits (%s)', async (_, firstMover) => {
    const older = await createUser(db.sql);
    const newer = await createUser(db.sql);
    const [a, b] = firstMover === 'older' ? [older, newer] : [newer, older];

    const [firstOutcome, secondOutcome] = await withSessions(['first', 'second'], async ({ first, second }) => {
      const firstChange = await openTransaction(first, level, (sql) => sql`UPDATE users SET referred_by = ${b} WHERE id = ${a}`);
      const secondChange = second.sql.begin(`isolation level ${level}`, (sql) => sql`UPDATE users SET referred_by = ${a} WHERE id = ${b}`);
      await waitUntilBlocked(second, secondChange);
      return Promise.allSettled([firstChange.commit(), secondChange]);
    });

    expect(firstOutcome.status).toBe('fulfilled');
    expectRefusal(secondOutcome, level, `user ${b} cannot be referred by user ${a}: that would close a referral cycle (${b} → ${a} → ${b}, each referred by the next)`);
    expect(await referrersOf([a, b])).toEqual({ [a]: b, [b]: null });
  });

  test('a user inserted as referred by y, while y is made referred by that user: only the insert commits', async () => {
    const y = await createUser(db.sql);
    const outcomes = await withSessions(['inserter', 'updater', 'pauser'], async ({ inserter, updater, pauser }) => {
      // The update's cycle check and its foreign-key check run a moment apart;
      // a test-only trigger holds the update between the two while the insert
      // commits, which is when READ COMMITTED used to let the cycle through.
      await pauser.sql`SELECT pg_advisory_lock(${pauseLockKey})`;
      let newUser!: number;
      const insert = await openTransaction(inserter, level, async (sql) => {
        newUser = onlyRow(await sql<{ id: number }[]>`INSERT INTO users (name, referred_by) VALUES ('new', ${y}) RETURNING id`).id;
      });
      const update = updater.sql.begin(`isolation level ${level}`, async (sql) => {
        await sql`SET LOCAL test.pause_after_cycle_check = 'on'`;
        await sql`UPDATE users SET referred_by = ${newUser} WHERE id = ${y}`;
      });
      await waitUntilBlocked(updater, update);
      const inserted = await settled(insert.commit());
      await pauser.sql`SELECT pg_advisory_unlock(${pauseLockKey})`;
      return { newUser, insert: inserted, update: await settled(update) };
    });

    expect(outcomes.insert.status).toBe('fulfilled');
    expectRefusal(outcomes.update, level, `user ${y} cannot be referred by user ${outcomes.newUser}: that would close a referral cycle (${y} → ${outcomes.newUser} → ${y}, each referred by the next)`);
    expect(await referrersOf([y, outcomes.newUser])).toEqual({ [y]: null, [outcomes.newUser]: y });
  });
});

describe.each(['repeatable read', 'serializable'] as const)('a transaction at %s', (level) => {
  test('cannot close a cycle with a change committed after its snapshot was taken', async () => {
    const a = await createUser(db.sql);
    const b = await createUser(db.sql);
    let snapshotTaken!: () => void;
    const snapshot = new Promise<void>((resolve) => (snapshotTaken = resolve));
    let otherCommitted!: () => void;
    const committed = new Promise<void>((resolve) => (otherCommitted = resolve));

    const outcome = await withSessions(['late'], async ({ late }) => {
      const change = late.sql.begin(`isolation level ${level}`, async (sql) => {
        await sql`SELECT count(*) FROM users`;
        snapshotTaken();
        await committed;
        await sql`UPDATE users SET referred_by = ${a} WHERE id = ${b}`;
      });
      await Promise.race([snapshot, change]);
      await db.sql`UPDATE users SET referred_by = ${b} WHERE id = ${a}`;
      otherCommitted();
      return settled(change);
    });

    expectRefusal(outcome, level);
    expect(await referrersOf([a, b])).toEqual({ [a]: b, [b]: null });
  });
});
