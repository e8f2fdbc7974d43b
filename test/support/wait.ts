// Waiting without sleeping: poll a condition until it holds, or fail with a
// description of what never happened.

import { onlyRow } from './rows.js';

export async function waitFor<T>(
  description: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Terminates the database backends that are LISTENing (after waiting for one to exist); returns how many. */
export async function killListeners(sql: import('postgres').Sql): Promise<number> {
  const listeners = () => sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%'`;
  await waitFor('a LISTEN connection to kill', async () => (await listeners()).length > 0);
  const { count } = onlyRow(await sql<{ count: number }[]>`
    SELECT count(pg_terminate_backend(pid))::int AS count FROM pg_stat_activity
    WHERE datname = current_database() AND query ILIKE 'listen%'`);
  return count;
}
