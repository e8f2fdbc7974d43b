// Each test file gets its own database, cloned from the migrated template:
// fast, isolated, and always a real PostgreSQL. A test that needs a database
// to itself (fixed ids, a database taken offline) gets one the same way.

import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { databaseUrlFor } from './database-url.js';
import { track } from './leaks.js';

export type Sql = postgres.Sql;

export interface TestDatabase {
  /** A URL for this database. */
  url: string;
  /** A pool on this database. */
  sql: Sql;
  /** A new pool on this database (end it when done). */
  connect(options?: { max?: number }): Sql;
}

export interface OwnDatabase extends TestDatabase {
  /** Ends the pool and drops the database. */
  drop(): Promise<void>;
}

/** A postgres.js pool on `url`, registered as open until its end() is called. */
export function openPool(url: string, options: { max?: number } = {}): Sql {
  const sql = postgres(url, { max: options.max ?? 10, onnotice: () => undefined });
  // postgres.js keeps no "ended" flag: ending through this wrapper records it.
  let ended = false;
  const end = sql.end;
  sql.end = (endOptions) => {
    ended = true;
    return end(endOptions);
  };
  track(`a pool on the database ${new URL(url).pathname.slice(1)}`, () => !ended, () => sql.end({ timeout: 1 }));
  return sql;
}

/** A pool on the server's administrative database, which may create and drop databases. */
export function openAdminPool(): Sql {
  return openPool(inject('adminDatabaseUrl'), { max: 1 });
}

/** A new database cloned from the migrated template, with a pool on it. */
export async function createTestDatabase(): Promise<OwnDatabase> {
  const name = `referral_test_${randomBytes(6).toString('hex')}`;
  const admin = openAdminPool();
  try {
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrlFor(inject('adminDatabaseUrl'), name);
  const connect = (options: { max?: number } = {}) => openPool(url, options);
  const sql = connect();
  return {
    url,
    sql,
    connect,
    async drop() {
      await sql.end();
      const dropper = openAdminPool();
      try {
        await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/**
 * This file's database, created before its tests and dropped after them. Its
 * fields are filled in by beforeAll, so read them inside tests and hooks.
 */
export function useTestDatabase(): TestDatabase {
  return useDatabase(beforeAll, afterAll);
}

/**
 * A database of its own for each test of this file, created before the test
 * and dropped after it: for tests that insert fixed ids. Its fields are filled
 * in by beforeEach, so read them inside tests and hooks.
 */
export function useDatabasePerTest(): TestDatabase {
  return useDatabase(beforeEach, afterEach);
}

function useDatabase(before: typeof beforeAll, after: typeof afterAll): TestDatabase {
  const handle = {} as OwnDatabase;
  before(async () => {
    Object.assign(handle, await createTestDatabase());
  });
  after(async () => {
    await handle.drop?.();
  });
  return handle;
}
