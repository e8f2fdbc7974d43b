// The bench's database: a fresh, migrated one on the server the tests would
// use (TEST_DATABASE_URL or DATABASE_URL, else an embedded PostgreSQL), and
// the referral trees every scenario buys in.

import postgres from 'postgres';
import { pino } from 'pino';
import { migrate } from '../bridge/src/migrate.js';
import { databaseUrlFor } from '../test/support/database-url.js';
import { startPostgresServer } from '../test/support/postgres-server.js';
import { onlyRow } from '../test/support/rows.js';

export interface BenchDatabase {
  url: string;
  /** A pool of 4 on it. */
  sql: postgres.Sql;
  /** Where it runs: TEST_DATABASE_URL, embedded PostgreSQL… */
  description: string;
  /** Ends the pool, drops the database and stops the server if the bench started it. */
  drop(): Promise<void>;
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const server = await startPostgresServer();
  const name = `referral_bench_${Date.now()}`;
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = databaseUrlFor(server.adminUrl, name);
  await migrate(url, pino({ level: 'silent' }));
  const sql = postgres(url, { max: 4, onnotice: () => undefined });
  return {
    url,
    sql,
    description: server.description,
    async drop() {
      await sql.end();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await server.stop();
    },
  };
}

export interface Fixture {
  /** root ← hot ← 1,000 buyers: every purchase of theirs credits hot (level 1) and root (level 2). */
  root: number;
  hot: number;
  /** The i-th of hot's buyers, round-robin. */
  buyer(i: number): number;
  /** 1,000 separate chains cold root ← cold referrer ← cold buyer: the same two credits, no referrer shared. */
  coldRoots: number[];
  coldReferrers: number[];
  coldBuyers: number[];
  /** The i-th cold referrer, round-robin. */
  coldReferrer(i: number): number;
  /** The i-th cold buyer, round-robin. */
  coldBuyer(i: number): number;
}

export async function createFixture(sql: postgres.Sql): Promise<Fixture> {
  const ids = (rows: Array<{ id: number }>) => rows.map((row) => row.id);
  const { id: root } = onlyRow(await sql<{ id: number }[]>`INSERT INTO users (name) VALUES ('root') RETURNING id`);
  const { id: hot } = onlyRow(await sql<{ id: number }[]>`INSERT INTO users (name, referred_by) VALUES ('hot', ${root}) RETURNING id`);
  const buyers = ids(await sql<{ id: number }[]>`INSERT INTO users (referred_by) SELECT ${hot}::int FROM generate_series(1, 1000) RETURNING id`);
  const coldRoots = ids(await sql<{ id: number }[]>`INSERT INTO users (name) SELECT 'cold root' FROM generate_series(1, 1000) RETURNING id`);
  const coldReferrers = ids(await sql<{ id: number }[]>`INSERT INTO users (referred_by) SELECT unnest(${coldRoots}::int[]) RETURNING id`);
  const coldBuyers = ids(await sql<{ id: number }[]>`INSERT INTO users (referred_by) SELECT unnest(${coldReferrers}::int[]) RETURNING id`);
  const roundRobin = (list: number[]) => (i: number) => list[i % list.length] ?? Number.NaN;
  return {
    root, hot, buyer: roundRobin(buyers), coldRoots, coldReferrers, coldBuyers, coldReferrer: roundRobin(coldReferrers), coldBuyer: roundRobin(coldBuyers),
  };
}
