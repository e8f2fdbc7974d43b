// Applies the SQL migrations in db/migrations with node-pg-migrate. Safe to
// run at every start and from several processes at once: applied migrations
// are skipped, and concurrent runners wait for each other's lock.

import { runner } from 'node-pg-migrate';
import { Failure, describe } from './failure.js';
import type { Logger } from './log.js';
import { redactDatabaseUrl } from './config.js';
import { migrationsDir } from './project-paths.js';

/** Applies pending migrations; returns the names of those it applied. */
export async function migrate(databaseUrl: string, log: Logger): Promise<string[]> {
  try {
    const applied = await runner({
      databaseUrl,
      dir: migrationsDir,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      checkOrder: true,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      logger: {
        debug: (message: string) => log.debug({ migrate: message }),
        info: (message: string) => log.debug({ migrate: message }),
        warn: (message: string) => log.warn({ migrate: message }),
        error: (message: string) => log.debug({ migrate: message }),
      },
    });
    return applied.map((migration) => migration.name);
  } catch (error) {
    throw asStartupFailure(error, databaseUrl);
  }
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', '28P01', '28000', '3D000']);

function asStartupFailure(error: unknown, databaseUrl: string): Failure {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && unreachableCodes.has(code)) {
    return new Failure(
      'DATABASE_UNREACHABLE',
      `cannot connect to the database at ${redactDatabaseUrl(databaseUrl)}: ${describe(error)}`,
      { cause: error },
    );
  }
  return new Failure('MIGRATION_FAILED', `migrating the database failed: ${describe(error)}`, { cause: error });
}
