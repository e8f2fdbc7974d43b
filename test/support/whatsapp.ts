// Helpers for WhatsApp tests: a worker in this process configured like the
// bridge's, and referral trees whose referrers have phone numbers.

import { pino } from 'pino';
import { readConfig } from '../../bridge/src/config.js';
import { connectDatabase } from '../../bridge/src/db.js';
import { createMetrics } from '../../bridge/src/metrics.js';
import { createTwilioSender } from '../../bridge/src/whatsapp/twilio-sender.js';
import { startWhatsAppWorker, type WhatsAppWorker } from '../../bridge/src/whatsapp/worker.js';
import type { Sql } from './database.js';
import { track } from './leaks.js';
import { onlyRow } from './rows.js';

export const twilioAccount = { sid: `AC${'0123456789abcdef'.repeat(2)}`, token: 'test-auth-token-not-a-real-one' };
export const whatsappFrom = 'whatsapp:+14155238886';

/** The environment of a worker that talks to the fake Twilio at `twilioUrl` (or of log mode, without it). */
export function workerEnvironment(twilioUrl: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(twilioUrl
      ? { TWILIO_ACCOUNT_SID: twilioAccount.sid, TWILIO_AUTH_TOKEN: twilioAccount.token, TWILIO_WHATSAPP_FROM: whatsappFrom, TWILIO_API_BASE_URL: twilioUrl }
      : {}),
    WHATSAPP_RETRY_BASE_MS: '50',
    TWILIO_TIMEOUT_MS: '1000',
    TWILIO_MAX_MPS: '1000',
    ...extra,
  };
}

export interface TestWorker {
  worker: WhatsAppWorker;
  logs: Array<Record<string, unknown> & { msg: string }>;
  metrics: ReturnType<typeof createMetrics>;
  stop(): Promise<void>;
}

export async function startTestWorker(databaseUrl: string, env: Record<string, string>): Promise<TestWorker> {
  const config = readConfig({ DATABASE_URL: databaseUrl, ...env });
  const logs: TestWorker['logs'] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const sql = connectDatabase(databaseUrl, log, { max: config.whatsapp.concurrency + 2 });
  const metrics = createMetrics();
  const { twilio } = config.whatsapp;
  const worker = await startWhatsAppWorker({
    sql, log, metrics, config: config.whatsapp,
    sender: twilio ? createTwilioSender(twilio, config.whatsapp) : undefined,
  });
  let stopped = false;
  const stop = async () => {
    stopped = true;
    await worker.stop();
    await sql.end({ timeout: 5 });
  };
  track('a WhatsApp worker', () => !stopped, stop);
  return { worker, logs, metrics, stop };
}

let phoneCounter = 0;

/** root ← referrer ← buyer, where root and referrer have phone numbers; returns the ids. */
export async function phoneChain(sql: Sql): Promise<{ root: number; referrer: number; buyer: number }> {
  const phone = () => `+49151${String(1_000_000 + (++phoneCounter) + process.pid * 1000).slice(-7)}`;
  const insert = async (name: string, phoneNumber: string | null, referredBy: number | null) => onlyRow(await sql<{ id: number }[]>`
    INSERT INTO users (name, phone_number, referred_by) VALUES (${name}, ${phoneNumber}, ${referredBy}) RETURNING id`).id;
  const root = await insert('root', phone(), null);
  const referrer = await insert('referrer', phone(), root);
  return { root, referrer, buyer: await insert('buyer', null, referrer) };
}

export interface OutboxRow {
  id: string;
  userId: number;
  recipient: string;
  status: string;
  attempts: number;
  twilioSid: string | null;
  lastErrorCode: string | null;
}

export async function outboxOf(sql: Sql, userIds: number[]): Promise<OutboxRow[]> {
  return sql<OutboxRow[]>`
    SELECT id::text, user_id AS "userId", recipient, status, attempts, twilio_sid AS "twilioSid", last_error_code AS "lastErrorCode"
    FROM whatsapp_outbox WHERE user_id = ANY(${userIds}::int[]) ORDER BY id`;
}
