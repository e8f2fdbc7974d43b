// `npm run migrate`: brings DATABASE_URL (or, without it, the embedded
// database) to the current schema and exits.

import { readConfig } from './config.js';
import { setUpDatabase } from './database-setup.js';
import { Failure, describe } from './failure.js';
import { createLogger } from './log.js';

try {
  const config = readConfig();
  const log = createLogger(config);
  const database = await setUpDatabase(config, log);
  await database.embedded?.stop();
  log.flush();
} catch (error) {
  const code = error instanceof Failure ? error.code : 'MIGRATE_FAILED';
  process.stderr.write(`migration failed [${code}]: ${describe(error)}\n`);
  process.exit(1);
}
