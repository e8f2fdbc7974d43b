// Migrations apply in order on an empty database, a second run is a no-op,
// and a database with data from before a migration still takes it, on
// whichever PostgreSQL the suite runs against. The schema they build is
// committed in test/schema.snapshot.sql, so that every change to it shows in
// review as a diff of that file.
//
// After adding or changing a migration, refresh the snapshot and commit it
// with the migration:
//
//   npm run schema:dump
//
// (It runs the snapshot test below with --update; TEST_DATABASE_URL works as
// for npm test. The text is the same on PostgreSQL 15 and 17.)

import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { runner } from 'node-pg-migrate';
import { pino } from 'pino';
import { describe, expect, inject, test } from 'vitest';
import { migrate } from '../bridge/src/migrate.js';
import { migrationsDir } from '../bridge/src/project-paths.js';
import { createTestDatabase, openAdminPool, openPool, type Sql } from './support/database.js';
import { databaseUrlFor } from './support/database-url.js';
import { onlyRow } from './support/rows.js';
import { describeSchema } from './support/schema.js';

const silent = pino({ level: 'silent' });

describe('migrations', () => {
  test('apply every numbered migration on an empty database, then a second run changes nothing', async () => {
    await withEmptyDatabase(async (url, sql) => {
      const files = migrationNames();
      expect(files.length).toBeGreaterThan(0);
      expect(await migrate(url, silent)).toEqual(files);

      const schemaBefore = await describeSchema(sql);
      expect(await migrate(url, silent)).toEqual([]);
      expect(await describeSchema(sql)).toEqual(schemaBefore);
      const { count } = onlyRow(await sql<{ count: number }[]>`SELECT count(*)::int FROM pgmigrations`);
      expect(count).toBe(files.length);
    });
  });

  test('two processes migrating at once both succeed, and each migration runs once', async () => {
    await withEmptyDatabase(async (url) => {
      const [first, second] = await Promise.all([migrate(url, silent), migrate(url, silent)]);
      expect([...first, ...second].sort()).toEqual(migrationNames());
    });
  });

  test('a database holding idempotency keys from before 0008 still migrates; only keys written after must be visible ASCII', async () => {
    await withEmptyDatabase(async (url, sql) => {
      const files = migrationNames();
      const before0008 = files.findIndex((file) => file.startsWith('0008_'));
      await runner({
        databaseUrl: url, dir: migrationsDir, direction: 'up', count: before0008, migrationsTable: 'pgmigrations',
        singleTransaction: true, logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      await sql`INSERT INTO users (id) VALUES (1)`;
      await sql`INSERT INTO purchases (user_id, amount, idempotency_key) VALUES (1, 10, 'order 7781 (an older key)')`;

      expect(await migrate(url, silent)).toEqual(files.slice(before0008));
      expect(await sql`SELECT idempotency_key FROM purchases`).toEqual([{ idempotency_key: 'order 7781 (an older key)' }]);
      await expect(sql`INSERT INTO purchases (user_id, amount, idempotency_key) VALUES (1, 10, 'order 7782 (a new key)')`).rejects
        .toMatchObject({ code: '23514', constraint_name: 'purchases_idempotency_key_is_visible_ascii' });
    });
  });

  test('a database with earnings from before refunds (0010) still migrates, and those purchases can be refunded exactly', async () => {
    await withEmptyDatabase(async (url, sql) => {
      const files = migrationNames();
      const before0010 = files.findIndex((file) => file.startsWith('0010_'));
      await runner({
        databaseUrl: url, dir: migrationsDir, direction: 'up', count: before0010, migrationsTable: 'pgmigrations',
        singleTransaction: true, logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      await sql`INSERT INTO users (id, referred_by, phone_number) VALUES (1, NULL, '+4915112345678'), (2, 1, NULL)`;
      await sql`INSERT INTO purchases (user_id, amount) VALUES (2, 1999.99)`;

      expect(await migrate(url, silent)).toEqual(files.slice(before0010));
      await sql`INSERT INTO refunds (purchase_id, amount) VALUES (1, 1999.99)`;
      expect(await sql`SELECT user_id, decimal_text(sum(amount)) AS total, count(*)::int AS rows FROM earnings GROUP BY user_id`)
        .toEqual([{ user_id: 1, total: '0.00', rows: 2 }]);
      expect(await sql`SELECT variables->>'kind' AS kind, variables->>'amount' AS amount FROM whatsapp_outbox ORDER BY id`)
        .toEqual([{ kind: null, amount: '99.9995' }, { kind: 'reversal', amount: '99.9995' }]);
    });
  });

  test('a database with earnings from before the lifecycle (0012) still migrates: its credits are held the default 30 days, their reversals with them', async () => {
    await withEmptyDatabase(async (url, sql) => {
      const files = migrationNames();
      const before0012 = files.findIndex((file) => file.startsWith('0012_'));
      await runner({
        databaseUrl: url, dir: migrationsDir, direction: 'up', count: before0012, migrationsTable: 'pgmigrations',
        singleTransaction: true, logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      });
      await sql`INSERT INTO users (id, referred_by, phone_number) VALUES (1, NULL, '+4915112345678'), (2, 1, NULL)`;
      await sql`INSERT INTO purchases (user_id, amount) VALUES (2, 1999.99)`;
      await sql`INSERT INTO refunds (purchase_id, amount) VALUES (1, 999.99)`;

      expect(await migrate(url, silent)).toEqual(files.slice(before0012));
      expect(await sql`
        SELECT amount::text, available_at = created_at + interval '30 days' AS held_30_days,
               available_at = (SELECT available_at FROM earnings WHERE id = 1) AS with_the_credit
        FROM earnings ORDER BY id`)
        .toEqual([{ amount: '99.9995', held_30_days: true, with_the_credit: true }, { amount: '-49.9995', held_30_days: false, with_the_credit: true }]);
      expect(await sql`SELECT decimal_text(pending) AS pending, decimal_text(available) AS available FROM user_balance(1)`)
        .toEqual([{ pending: '50.00', available: '0.00' }]);
      expect(await sql`SELECT count(*)::int AS messages FROM whatsapp_outbox WHERE earning_id IS NOT NULL`).toEqual([{ messages: 2 }]);
      await expect(sql`UPDATE earnings SET available_at = now()`).rejects.toMatchObject({ code: '23001' });
    });
  });
});

describe('the schema', () => {
  test('the migrations build exactly the schema committed in test/schema.snapshot.sql', async () => {
    // A clone of the template the suite migrated: the schema every other test runs on.
    const database = await createTestDatabase();
    try {
      const schema = await describeSchema(database.sql);
      await expect(schema, 'the schema the migrations build is not test/schema.snapshot.sql: if the change is intended, '
        + 'run `npm run schema:dump` and commit the snapshot with the migration').toMatchFileSnapshot('./schema.snapshot.sql');
    } finally {
      await database.drop();
    }
  });
});

/** The migrations' names (file names without .sql), in order. */
function migrationNames(): string[] {
  return readdirSync(migrationsDir).filter((file) => file.endsWith('.sql')).sort().map((file) => file.replace(/\.sql$/, ''));
}

/** A new empty database for `use`, with one connection to it; dropped afterwards. */
async function withEmptyDatabase(use: (url: string, sql: Sql) => Promise<void>): Promise<void> {
  const admin = openAdminPool();
  const name = `referral_migrate_${randomBytes(6).toString('hex')}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
  const sql = openPool(url, { max: 1 });
  try {
    await use(url, sql);
  } finally {
    await sql.end();
    await dropWhenIdle(admin, name);
    await admin.end();
  }
}

/**
 * node-pg-migrate ends its connection without waiting for the server to let
 * go of it; dropping the database WITH (FORCE) before that would terminate
 * the connection under its feet, an error nobody is listening for.
 */
async function dropWhenIdle(admin: Sql, name: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const { count } = onlyRow(await admin<{ count: number }[]>`SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = ${name}`);
    if (count === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
}
