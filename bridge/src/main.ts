// `npm start`: one process that brings up the database (embedded unless
// DATABASE_URL is set), applies migrations, and runs the bridge: the earning
// feed, the HTTP API and WebSocket, and the WhatsApp worker. Shutdown on
// SIGINT/SIGTERM runs in order: stop accepting, close sockets with 1001, stop
// the worker and the feed, end the pool, then stop the embedded database, all
// within 10 s.

import { readConfig, redactDatabaseUrl, type Config } from './config.js';
import { setUpDatabase } from './database-setup.js';
import { connectDatabase, type Sql } from './db.js';
import { startBridge, type Bridge } from './bridge.js';
import type { UserEvent } from './client/referral-client.js';
import type { EarningEventRecord } from './earning-events.js';
import type { EmbeddedDatabase } from './embedded-database.js';
import { Failure, describe } from './failure.js';
import { createLogger, type Logger } from './log.js';
import { settleWithin } from './settle.js';

interface Running {
  embedded?: EmbeddedDatabase;
  sql?: Sql;
  bridge?: Bridge;
}

/**
 * How long a shutdown may take before the process exits anyway. The embedded
 * PostgreSQL writes a shutdown checkpoint, which on a busy disk (a CI run's)
 * was seen to take more than the bridge's own 10 s.
 */
const shutdownDeadlineMs = (running: Running) => (running.embedded ? 30_000 : 10_000);

async function start(config: Config, log: Logger, running: Running): Promise<void> {
  warnAboutOpenAccess(config, log);

  const database = await setUpDatabase(config, log);
  if (database.embedded) running.embedded = database.embedded;
  running.sql = connectDatabase(database.url, log);
  running.bridge = await startBridge({
    config,
    sql: running.sql,
    connectListener: () => connectDatabase(database.url, log, { max: 1 }),
    log,
    ...(config.logEarnings ? { onEarning: (event: EarningEventRecord) => logEarning(log, event) } : {}),
  });

  log.info(
    running.embedded
      ? `ready. Open a SQL shell on the embedded database with:\n\n    psql '${running.embedded.url}'\n\n` +
          `and try: INSERT INTO purchases (user_id, amount) VALUES (4, 1999.99);`
      : `ready, using ${redactDatabaseUrl(database.url)}`,
  );
}

function warnAboutOpenAccess(config: Config, log: Logger): void {
  const open = [
    config.auth.jwtSecret ? undefined : 'JWT_SECRET is not set: anyone can read any user\'s earnings and subscribe to them',
    config.auth.apiKey ? undefined : 'API_KEY is not set: anyone can record purchases and create users',
  ].filter((line): line is string => line !== undefined);
  if (open.length > 0) {
    log.warn(`RUNNING OPEN, for development only. ${open.join('; ')}. Set both before exposing this bridge (NODE_ENV=production requires them).`);
  }
}

function logEarning(log: Logger, record: EarningEventRecord): void {
  const event = JSON.parse(record.json) as UserEvent;
  log.info(
    { event },
    event.type !== 'earning_update' && event.type !== 'earning_reversed'
      ? `payout: user ${event.userId}'s payout ${event.payoutId} of ${event.amount}${event.currency ? ` ${event.currency}` : ''} is ${event.status} [seq ${event.seq}]`
      : event.type === 'earning_reversed'
      ? `reversal: user ${event.userId} ${event.amount} (level ${event.level}, rate ${event.rate}) by refund ${event.refundId} of ${event.refundAmount} ` +
          `on purchase ${event.purchaseId} of ${event.purchaseAmount} by user ${event.fromUserId} [seq ${event.seq}]`
      : `earning: user ${event.userId} earned ${event.amount} (level ${event.level}, rate ${event.rate}) ` +
          `from purchase ${event.purchaseId} of ${event.purchaseAmount} by user ${event.fromUserId} [seq ${event.seq}]`,
  );
}

async function stop(running: Running, log: Logger): Promise<void> {
  await running.bridge?.stop();
  await settleWithin(running.sql?.end({ timeout: 2 }) ?? Promise.resolve(), 3000);
  await running.embedded?.stop();
  log.info('stopped');
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = readConfig();
  } catch (error) {
    exitWithFailure(error);
  }
  const log = createLogger(config);
  const running: Running = {};
  let stopping = false;
  const shutDown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadlineMs = shutdownDeadlineMs(running);
    const deadline = setTimeout(() => {
      log.error(`shutdown took longer than ${deadlineMs / 1000} s; exiting anyway`);
      process.exit(1);
    }, deadlineMs);
    stop(running, log).then(
      () => finish(log, 0, deadline),
      (error) => {
        log.error({ err: describe(error) }, 'shutdown failed');
        finish(log, 1, deadline);
      },
    );
  };
  process.on('SIGINT', () => shutDown('SIGINT'));
  process.on('SIGTERM', () => shutDown('SIGTERM'));

  try {
    await start(config, log, running);
  } catch (error) {
    log.debug({ err: error }, 'start-up failed');
    await stop(running, log).catch(() => undefined);
    log.flush();
    exitWithFailure(error);
  }
}

function finish(log: Logger, code: number, deadline: NodeJS.Timeout): void {
  clearTimeout(deadline);
  log.flush();
  // Give an asynchronous log transport a moment to write its last lines.
  setTimeout(() => process.exit(code), 100);
}

/** Start-up failures end with one clear line, not a stack trace. */
function exitWithFailure(error: unknown): never {
  const code = error instanceof Failure ? error.code : 'START_FAILED';
  process.stderr.write(`referral-earnings could not start [${code}]: ${describe(error)}\n`);
  process.exit(1);
}

await main();
