// Migrations apply in order on an empty database, and a second run is a
// no-op, on whichever PostgreSQL the suite runs against.

import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { pino } from 'pino';
import { describe, expect, inject, test } from 'vitest';
import { migrate } from '../bridge/src/migrate.js';
import { migrationsDir } from '../bridge/src/project-paths.js';
import { databaseUrlFor } from './support/database-url.js';

const silent = pino({ level: 'silent' });

describe('migrations', () => {
  test('apply every numbered migration on an empty database, then a second run changes nothing', async () => {
    const admin = postgres(inject('adminDatabaseUrl'), { max: 1, onnotice: () => undefined });
    const name = `referral_migrate_${randomBytes(6).toString('hex')}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const files = readdirSync(migrationsDir).filter((file) => file.endsWith('.sql')).sort();
      expect(files.length).toBeGreaterThan(0);
      expect(await migrate(url, silent)).toEqual(files.map((file) => file.replace(/\.sql$/, '')));

      const schemaBefore = await schemaFingerprint(sql);
      expect(await migrate(url, silent)).toEqual([]);
      expect(await schemaFingerprint(sql)).toEqual(schemaBefore);
      const [{ count } = { count: 0 }] = await sql<{ count: number }[]>`SELECT count(*)::int FROM pgmigrations`;
      expect(count).toBe(files.length);
    } finally {
      await sql.end();
      await dropWhenIdle(admin, name);
      await admin.end();
    }
  });

  test('two processes migrating at once both succeed, and each migration runs once', async () => {
    const admin = postgres(inject('adminDatabaseUrl'), { max: 1, onnotice: () => undefined });
    const name = `referral_migrate_${randomBytes(6).toString('hex')}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
    try {
      const [first, second] = await Promise.all([migrate(url, silent), migrate(url, silent)]);
      expect([...first!, ...second!].sort()).toEqual(
        readdirSync(migrationsDir).filter((file) => file.endsWith('.sql')).map((file) => file.replace(/\.sql$/, '')).sort(),
      );
    } finally {
      await dropWhenIdle(admin, name);
      await admin.end();
    }
  });
});

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
