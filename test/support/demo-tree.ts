import type { Sql } from './database.js';

/** The original README's demo users, verbatim. */
export async function loadOriginalDemoUsers(sql: Sql): Promise<void> {
  await sql`INSERT INTO users (id, referred_by) VALUES (1, NULL), (2, 1), (3, 2), (4, 2), (5, 1)`;
}
