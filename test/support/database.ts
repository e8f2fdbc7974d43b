// Each test file gets its own database, cloned from the migrated template:
// fast, isolated, and always a real PostgreSQL.

import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import { databaseUrlFor } from './database-url.js';

export type Sql = postgres.Sql;

export interface TestDatabase {
  /** A URL for this file's database. */
  url: string;
  /** A pool on this file's database. */
  sql: Sql;
  /** A new pool on this file's database (end it when done). */
  connect(options?: { max?: number }): Sql;
}

export async function createTestDatabase(): Promise<TestDatabase & { drop(): Promise<void> }> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `referral_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrlFor(adminUrl, name);
  const connect = (options: { max?: number } = {}) =>
    postgres(url, { max: options.max ?? 10, onnotice: () => undefined });
  const sql = connect();
  return {
    url,
    sql,
    connect,
    async drop() {
      await sql.end();
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => undefined });
      await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await dropper.end();
    },
  };
}

/**
 * This file's database, created before its tests and dropped after them. Its
 * fields are filled in by beforeAll, so read them inside tests and hooks.
 */
export function useTestDatabase(): TestDatabase {
  const handle = {} as TestDatabase & { drop(): Promise<void> };
  beforeAll(async () => {
    Object.assign(handle, await createTestDatabase());
  });
  afterAll(async () => {
    await handle.drop?.();
  });
  return handle;
}
