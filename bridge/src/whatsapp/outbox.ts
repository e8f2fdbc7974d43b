// The outbox's SQL: claim due messages with a lease, record what sending did,
// record Twilio's delivery reports, and read the outbox for the API and metrics.

import type { Sql } from '../db.js';
import type { MessageVariables } from './message.js';
import { outcomeUnknownCode } from './retry-policy.js';

export interface ClaimedMessage {
  id: string;
  userId: number;
  /** The earning or reversal the message is about; null for a paid payout's. */
  earningId: string | null;
  /** The payout_paid event the message is about; null for an earning's. */
  payoutEventId: string | null;
  /** Its user's number when it was claimed (see renewLease). */
  recipient: string;
  variables: MessageVariables;
  attempts: number;
  /** Sends of this message that may have reached Twilio unanswered (see 0020_whatsapp_outcomes.sql). */
  unknownOutcomes: number;
}

/**
 * Claims up to `limit` due messages for `worker`: queued ones whose time has
 * come, and "sending" ones whose lease ran out (their worker died, or could
 * not record what Twilio answered) while they may still be sent: below
 * `maxAttempts` and without an earlier unknown outcome. The lost claim counts
 * as an unknown outcome. SKIP LOCKED lets several workers claim at once
 * without ever taking the same row. The database addresses each claimed
 * message to its user's current number, and fails the ones whose user
 * removed theirs (RECIPIENT_REMOVED, see 0020_whatsapp_outcomes.sql): those
 * come back in `removed`, for the log, and are not to be sent.
 */
export async function claimDueMessages(
  sql: Sql, worker: string, limit: number, leaseMs: number, maxAttempts: number,
): Promise<{ claimed: ClaimedMessage[]; removed: Array<Pick<ClaimedMessage, 'id' | 'userId'>> }> {
  const rows = await sql<Array<ClaimedMessage & { status: string }>>`
    UPDATE whatsapp_outbox AS message
    SET status = 'sending', attempts = message.attempts + 1, leased_by = ${worker},
        unknown_outcomes = message.unknown_outcomes + (message.status = 'sending')::int,
        lease_expires_at = now() + ${leaseMs} * interval '1 millisecond', updated_at = now()
    FROM (
      SELECT id FROM whatsapp_outbox
      WHERE (status = 'queued' AND next_attempt_at <= now())
         OR (status = 'sending' AND lease_expires_at <= now() AND attempts < ${maxAttempts} AND unknown_outcomes = 0)
      ORDER BY next_attempt_at, id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) due
    WHERE message.id = due.id
    RETURNING message.id::text AS id, message.user_id AS "userId", message.earning_id::text AS "earningId",
              message.payout_event_id::text AS "payoutEventId", message.recipient, message.variables, message.attempts,
              message.unknown_outcomes AS "unknownOutcomes", message.status`;
  const messages = rows.map(({ status, ...message }) => ({ status, message }));
  return {
    claimed: messages.filter((row) => row.status === 'sending').map((row) => row.message),
    removed: messages.filter((row) => row.status !== 'sending').map(({ message: { id, userId } }) => ({ id, userId })),
  };
}

/**
 * Fails the "sending" messages whose lease ran out and that claimDueMessages
 * leaves alone: their last attempt, or their second unknown outcome, may have
 * been sent. Returns them, for the log.
 */
export async function failAbandonedMessages(sql: Sql, maxAttempts: number): Promise<Array<{ id: string; attempts: number }>> {
  return sql<Array<{ id: string; attempts: number }>>`
    UPDATE whatsapp_outbox
    SET status = 'failed', unknown_outcomes = unknown_outcomes + 1, lease_expires_at = NULL, leased_by = NULL,
        last_error_code = ${outcomeUnknownCode},
        last_error_message = 'attempt ' || attempts || ' lost its worker (stopped, or unable to record the outcome) while sending: '
          || CASE WHEN unknown_outcomes > 0 THEN 'a second unknown outcome' ELSE 'the last attempt' END || '; it may have been sent',
        updated_at = now()
    WHERE status = 'sending' AND lease_expires_at <= now() AND (attempts >= ${maxAttempts} OR unknown_outcomes > 0)
    RETURNING id::text AS id, attempts`;
}

/**
 * Extends this worker's claim just before it sends. `claimed`: the message is
 * still this worker's, to be sent to `recipient`, its user's number now (the
 * database reads it again); `removed`: its user removed their number since
 * the claim, and the database failed it as RECIPIENT_REMOVED; `lost`: the
 * claim ran out and another worker may have taken the message. Only a
 * `claimed` message is sent.
 */
export async function renewLease(
  sql: Sql, id: string, worker: string, leaseMs: number,
): Promise<{ state: 'claimed'; recipient: string } | { state: 'removed' | 'lost' }> {
  const [row] = await sql<Array<{ status: string; recipient: string | null }>>`
    UPDATE whatsapp_outbox SET lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
    WHERE id = ${id} AND status = 'sending' AND leased_by = ${worker}
    RETURNING status, recipient`;
  if (!row) return { state: 'lost' };
  return row.status === 'sending' && row.recipient !== null ? { state: 'claimed', recipient: row.recipient } : { state: 'removed' };
}

/** Every outcome below applies only while the row is still this worker's claim. */
/** `twilioSid` is null when the 2xx answer carried none. */
export async function markSent(sql: Sql, id: string, worker: string, twilioSid: string | null): Promise<void> {
  await sql`
    UPDATE whatsapp_outbox
    SET status = 'sent', twilio_sid = ${twilioSid}, sent_at = now(), lease_expires_at = NULL, leased_by = NULL,
        last_error_code = NULL, last_error_message = NULL, updated_at = now()
    WHERE id = ${id} AND status = 'sending' AND leased_by = ${worker}`;
}

export async function markSkipped(sql: Sql, id: string, worker: string): Promise<void> {
  await sql`
    UPDATE whatsapp_outbox
    SET status = 'skipped', lease_expires_at = NULL, leased_by = NULL, updated_at = now()
    WHERE id = ${id} AND status = 'sending' AND leased_by = ${worker}`;
}

/** `unknownOutcome`: the send may have reached Twilio unanswered, and is counted. */
export async function markForRetry(
  sql: Sql, id: string, worker: string, delayMs: number, code: string, message: string, unknownOutcome: boolean,
): Promise<void> {
  await sql`
    UPDATE whatsapp_outbox
    SET status = 'queued', next_attempt_at = now() + ${delayMs} * interval '1 millisecond',
        unknown_outcomes = unknown_outcomes + ${unknownOutcome ? 1 : 0},
        lease_expires_at = NULL, leased_by = NULL, last_error_code = ${code}, last_error_message = ${message}, updated_at = now()
    WHERE id = ${id} AND status = 'sending' AND leased_by = ${worker}`;
}

export async function markGivenUp(
  sql: Sql, id: string, worker: string, status: 'failed' | 'undeliverable', code: string, message: string, unknownOutcome: boolean,
): Promise<void> {
  await sql`
    UPDATE whatsapp_outbox
    SET status = ${status}, lease_expires_at = NULL, leased_by = NULL, unknown_outcomes = unknown_outcomes + ${unknownOutcome ? 1 : 0},
        last_error_code = ${code}, last_error_message = ${message}, updated_at = now()
    WHERE id = ${id} AND status = 'sending' AND leased_by = ${worker}`;
}

const statusRank: Record<string, number> = { sent: 1, delivered: 2, read: 3 };

/**
 * Records a delivery report. Reports can arrive out of order: a message never
 * goes back from read to delivered, and a final failure stays final.
 * Returns false when no message has that SID.
 */
export async function recordDeliveryStatus(
  sql: Sql, twilioSid: string, status: 'delivered' | 'read' | 'failed' | 'undeliverable', errorCode: string | null,
): Promise<boolean> {
  const rows = await sql`
    UPDATE whatsapp_outbox
    SET status = CASE
          WHEN status IN ('failed', 'undeliverable') THEN status
          WHEN ${status} IN ('failed', 'undeliverable') THEN ${status}
          WHEN ${statusRank[status] ?? 0} > CASE status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END
            THEN ${status}
          ELSE status END,
        last_error_code = coalesce(${errorCode}, last_error_code),
        updated_at = now()
    WHERE twilio_sid = ${twilioSid}
    RETURNING id`;
  return rows.length > 0;
}

export async function outboxDepthByStatus(sql: Sql): Promise<Array<{ status: string; count: number }>> {
  return sql<Array<{ status: string; count: number }>>`
    SELECT status, count(*)::int AS count FROM whatsapp_outbox GROUP BY status`;
}

/** A user's most recent messages, newest first, for GET /api/users/:userId/notifications. */
export async function notificationsOf(sql: Sql, userId: number, limit: number): Promise<unknown[]> {
  const rows = await sql<{ notification: unknown }[]>`
    SELECT json_build_object(
      'id', o.id, 'earningId', o.earning_id, 'payoutId', e.payout_id, 'status', o.status, 'attempts', o.attempts,
      'twilioSid', o.twilio_sid, 'lastErrorCode', o.last_error_code, 'variables', o.variables,
      'createdAt', iso_utc(o.created_at),
      'updatedAt', iso_utc(o.updated_at)) AS notification
    FROM whatsapp_outbox o LEFT JOIN payout_events e ON e.id = o.payout_event_id
    WHERE o.user_id = ${userId}
    ORDER BY o.id DESC LIMIT ${limit}`;
  return rows.map((row) => row.notification);
}
