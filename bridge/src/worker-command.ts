// `npm run worker`: the WhatsApp worker alone, on DATABASE_URL (or on the
// embedded database of a running `npm start`). Several may run at once.

import { readConfig } from './config.js';
import { connectDatabase } from './db.js';
import { Failure, describe } from './failure.js';
import { createLogger } from './log.js';
import { createMetrics } from './metrics.js';
import { createTwilioSender } from './whatsapp/twilio-sender.js';
import { startWhatsAppWorker } from './whatsapp/worker.js';

try {
  const config = readConfig();
  const log = createLogger(config);
  const databaseUrl = config.databaseUrl ?? `postgres://postgres:postgres@127.0.0.1:${config.embeddedDatabase.port}/referrals`;
  const sql = connectDatabase(databaseUrl, log, { max: config.whatsapp.concurrency + 2 });
  const { twilio } = config.whatsapp;
  const worker = await startWhatsAppWorker({
    sql, log, metrics: createMetrics(), config: config.whatsapp,
    sender: twilio ? createTwilioSender(twilio, config.whatsapp) : undefined,
  });
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping the WhatsApp worker');
    await worker.stop();
    await sql.end({ timeout: 5 });
    log.flush();
    setTimeout(() => process.exit(0), 100);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  const code = error instanceof Failure ? error.code : 'WORKER_FAILED';
  process.stderr.write(`the WhatsApp worker could not start [${code}]: ${describe(error)}\n`);
  process.exit(1);
}
