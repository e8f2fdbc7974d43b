// The one place that makes postgres.js connections. NUMERIC and BIGINT arrive
// as strings (postgres.js's default), so money is never a JavaScript number.

import postgres from 'postgres';
import type { Logger } from './log.js';

export type Sql = postgres.Sql;
/** A pool or a transaction: what a query function needs. */
export type Queryable = postgres.Sql | postgres.TransactionSql;

/** Connections in the bridge's pool (purchase batches may hold all but a few). */
export const poolSize = 10;

export function connectDatabase(databaseUrl: string, log: Logger, options: { max?: number } = {}): Sql {
  return postgres(databaseUrl, {
    max: options.max ?? poolSize,
    connect_timeout: 10,
    onnotice: (notice) => log.debug({ notice: notice.message }, 'database notice'),
    // JIT compiling pays off for long analytic queries, never for the
    // bridge's: it can add a second to a busy referrer's balance read.
    connection: { application_name: 'referral-bridge', jit: 'off' },
  });
}
