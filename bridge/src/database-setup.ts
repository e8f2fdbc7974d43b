// Brings a database to the current schema: the embedded one (created and
// given the demo referral tree on its first start) unless DATABASE_URL names
// another, which is migrated and never given demo data.

import { readFile } from 'node:fs/promises';
import type { Config } from './config.js';
import { connectDatabase } from './db.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './embedded-database.js';
import type { Logger } from './log.js';
import { migrate } from './migrate.js';
import { demoDataFile } from './project-paths.js';

export interface ReadyDatabase {
  url: string;
  embedded: EmbeddedDatabase | undefined;
}

export async function setUpDatabase(config: Config, log: Logger): Promise<ReadyDatabase> {
  const embedded = config.databaseUrl === undefined
    ? await startEmbeddedDatabase(config.embeddedDatabase, log)
    : undefined;
  const url = config.databaseUrl ?? embedded!.url;
  try {
    const applied = await migrate(url, log);
    log.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'database schema is up to date');
    if (embedded?.created) {
      await loadDemoData(url, log);
      log.info('loaded the demo referral tree: users 1-5 (2 and 5 referred by 1; 3 and 4 referred by 2)');
    }
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  return { url, embedded };
}

async function loadDemoData(url: string, log: Logger): Promise<void> {
  const sql = connectDatabase(url, log, { max: 1 });
  try {
    await sql.unsafe(await readFile(demoDataFile, 'utf8'));
  } finally {
    await sql.end();
  }
}
