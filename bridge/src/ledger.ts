// The database operations behind the HTTP API. Every amount is computed and
// formatted by PostgreSQL (decimal_text): the bridge passes money through as
// text and never does arithmetic on it.

import type { Sql } from './db.js';
import { ProductError, isErrorCode, unknownUser } from './errors.js';

export interface PurchaseRequest {
  userId: number;
  /** A decimal string, passed to NUMERIC as it is. */
  amount: string;
  idempotencyKey: string | undefined;
}

/** What POST /api/purchase answers: the purchase and the earnings its trigger created. */
export interface PurchaseReceipt {
  purchase: { id: number; userId: number; amount: string; createdAt: string; idempotencyKey: string | null };
  earnings: Array<{ userId: number; level: number; rate: string; amount: string; seq: number }>;
}

export interface PurchaseOutcome {
  /** False when an earlier request with the same idempotency key is replayed. */
  created: boolean;
  receipt: PurchaseReceipt;
}

/** Records one purchase (the trigger credits the referrers): its receipt, or the product error that refused it. */
export async function recordPurchase(sql: Sql, request: PurchaseRequest): Promise<PurchaseOutcome> {
  const [outcome] = await recordPurchases(sql, [request]);
  if (outcome instanceof ProductError) throw outcome;
  return outcome!;
}

type RecordedOutcome =
  | { outcome: 'created' | 'replayed'; receipt: PurchaseReceipt }
  | { outcome: 'refused'; error: { code: string; message: string } };

/**
 * Records several purchases with one call of record_purchases (db/migrations
 * 0016), in autocommit: one statement, so the trigger runs, and NOTIFY
 * commits, once for all. Each request is answered as if it had been
 * recorded alone, in request order: its receipt, the receipt of an earlier
 * purchase with the same Idempotency-Key, or the product error that refused
 * it (which refuses nothing else).
 */
export async function recordPurchases(sql: Sql, requests: PurchaseRequest[]): Promise<Array<PurchaseOutcome | ProductError>> {
  const [row] = await sql<{ outcomes: RecordedOutcome[] }[]>`
    SELECT record_purchases(${sql.json(requests.map(({ userId, amount, idempotencyKey }) => ({ userId, amount, idempotencyKey: idempotencyKey ?? null })))}) AS outcomes`;
  return row!.outcomes.map((recorded) => {
    if (recorded.outcome !== 'refused') return { created: recorded.outcome === 'created', receipt: recorded.receipt };
    const { code, message } = recorded.error;
    if (!isErrorCode(code)) throw new Error(`record_purchases refused a purchase with an unknown code ${JSON.stringify(code)}: ${message}`);
    return new ProductError(code, message, { source: 'body' });
  });
}

/**
 * Totals by level for one user, net of reversals; every configured level is
 * listed, at zero when empty. count is the level's credits, reversals its
 * reversals (a reversal is the only negative earning). With `throughSeq`,
 * the totals as they stood after that event of the user's; else as they are.
 */
export async function earningsSummary(sql: Sql, userId: number, throughSeq: number | null): Promise<unknown> {
  // Without throughSeq the query reads only the index on (user_id, level).
  const upToSeq = () => (throughSeq === null ? sql`` : sql`AND e.seq <= ${throughSeq}`);
  const [row] = await sql<{ summary: unknown }[]>`
    SELECT json_build_object(
      'userId', u.id,
      'total', decimal_text(coalesce((SELECT sum(e.amount) FROM earnings e WHERE e.user_id = u.id ${upToSeq()}), 0)),
      'levels', (
        SELECT json_agg(json_build_object('level', level, 'total', decimal_text(total), 'count', count, 'reversals', reversals) ORDER BY level)
        FROM (
          SELECT l.level, coalesce(sum(e.amount), 0) AS total,
                 count(*) FILTER (WHERE e.amount > 0) AS count, count(*) FILTER (WHERE e.amount < 0) AS reversals
          FROM (SELECT level FROM referral_rates
                UNION SELECT DISTINCT level FROM earnings WHERE user_id = u.id) l
          LEFT JOIN earnings e ON e.user_id = u.id AND e.level = l.level ${upToSeq()}
          GROUP BY l.level
        ) by_level)
    ) AS summary
    FROM users u WHERE u.id = ${userId}`;
  if (!row) throw unknownUser(userId);
  return row.summary;
}

export async function userExists(sql: Sql, userId: number): Promise<boolean> {
  const [user] = await sql`SELECT 1 FROM users WHERE id = ${userId}`;
  return user !== undefined;
}

export interface NewUser {
  name: string | null;
  phoneNumber: string | null;
  referredBy: number | null;
}

export async function createUser(sql: Sql, user: NewUser): Promise<unknown> {
  const [row] = await sql<{ user: unknown }[]>`
    INSERT INTO users (name, phone_number, referred_by)
    VALUES (${user.name}, ${user.phoneNumber}, ${user.referredBy})
    RETURNING json_build_object(
      'id', id, 'name', name, 'phoneNumber', phone_number, 'referredBy', referred_by,
      'createdAt', iso_utc(created_at)) AS user`;
  return row!.user;
}
