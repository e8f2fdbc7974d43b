// Migrations apply in order on an empty database, a second run is a no-op,
// and a database with data from before a migration still takes it, on
// whichever PostgreSQL the suite runs against.

import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { runner } from 'node-pg-migrate';
import postgres from 'postgres';
import { pino } from 'pino';
import { describe, expect, inject, test } from 'vitest';
import { migrate } from '../bridge/src/migrate.js';
import { migrationsDir } from '../bridge/src/project-paths.js';
import { databaseUrlFor } from './support/database-url.js';

const silent = pino({ level: 'silent' });

describe('migrations', () => {
  test('apply every numbered migration on an empty database, then a second run changes nothing', async () => {
    await withEmptyDatabase(async (url, sql) => {
      const files = migrationNames();
      expect(files.length).toBeGreaterThan(0);
      expect(await migrate(url, silent)).toEqual(files);

      const schemaBefore = await schemaFingerprint(sql);
      expect(await migrate(url, silent)).toEqual([]);
      expect(await schemaFingerprint(sql)).toEqual(schemaBefore);
      const [{ count } = { count: 0 }] = await sql<{ count: number }[]>`SELECT count(*)::int FROM pgmigrations`;
      expect(count).toBe(files.length);
    });
  });

  test('two processes migrating at once both succeed, and each migration runs once', async () => {
    await withEmptyDatabase(async (url) => {
      const [first, second] = await Promise.all([migrate(url, silent), migrate(url, silent)]);
      expect([...first!, ...second!].sort()).toEqual(migrationNames());
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
});

/** The migrations' names (file names without .sql), in order. */
function migrationNames(): string[] {
  return readdirSync(migrationsDir).filter((file) => file.endsWith('.sql')).sort().map((file) => file.replace(/\.sql$/, ''));
}

/** A new empty database for `use`, with one connection to it; dropped afterwards. */
async function withEmptyDatabase(use: (url: string, sql: postgres.Sql) => Promise<void>): Promise<void> {
  const admin = postgres(inject('adminDatabaseUrl'), { max: 1, onnotice: () => undefined });
  const name = `referral_migrate_${randomBytes(6).toString('hex')}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
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
async function dropWhenIdle(admin: postgres.Sql, name: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const [row] = await admin<{ count: number }[]>`SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = ${name}`;
    if (row!.count === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
}

async function schemaFingerprint(sql: postgres.Sql) {
  return sql`
    SELECT table_name, column_name, data_type, is_nullable, column_default
    FROM information_schema.columns WHERE table_schema = 'public'
    ORDER BY table_name, ordinal_position`;
}
