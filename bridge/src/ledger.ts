// The database operations behind the HTTP API. Every amount is computed and
// formatted by PostgreSQL (decimal_text): the bridge passes money through as
// text and never does arithmetic on it.

import type { Queryable, Sql } from './db.js';
import { ApiError } from './http/api-error.js';

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

/** Inserts a purchase (the trigger credits the referrers) and reads back its earnings, in one transaction. */
export async function recordPurchase(sql: Sql, request: PurchaseRequest): Promise<PurchaseOutcome> {
  return sql.begin(async (tx) => {
    const [inserted] = await tx<{ id: string }[]>`
      INSERT INTO purchases (user_id, amount, idempotency_key)
      VALUES (${request.userId}, ${request.amount}, ${request.idempotencyKey ?? null})
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id`;
    if (inserted) return { created: true, receipt: await purchaseReceipt(tx, inserted.id) };

    const [earlier] = await tx<{ id: string; sameRequest: boolean }[]>`
      SELECT id, (user_id = ${request.userId} AND amount = ${request.amount}::numeric) AS "sameRequest"
      FROM purchases WHERE idempotency_key = ${request.idempotencyKey ?? null}`;
    if (!earlier?.sameRequest) {
      throw new ApiError(409, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different purchase; use a new key for a new purchase');
    }
    return { created: false, receipt: await purchaseReceipt(tx, earlier.id) };
  });
}

async function purchaseReceipt(sql: Queryable, purchaseId: string): Promise<PurchaseReceipt> {
  const [row] = await sql<{ receipt: PurchaseReceipt }[]>`
    SELECT json_build_object(
      'purchase', json_build_object(
        'id', p.id,
        'userId', p.user_id,
        'amount', decimal_text(p.amount),
        'createdAt', to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'idempotencyKey', p.idempotency_key),
      'earnings', coalesce((
        SELECT json_agg(json_build_object(
                 'userId', e.user_id, 'level', e.level, 'rate', trim_scale(e.rate)::text,
                 'amount', decimal_text(e.amount), 'seq', e.seq) ORDER BY e.level)
        FROM earnings e WHERE e.purchase_id = p.id), '[]')
    ) AS receipt
    FROM purchases p WHERE p.id = ${purchaseId}`;
  return row!.receipt;
}

/** Totals by level for one user; every configured level is listed, at zero when empty. */
export async function earningsSummary(sql: Sql, userId: number): Promise<unknown> {
  const [row] = await sql<{ summary: unknown }[]>`
    SELECT json_build_object(
      'userId', u.id,
      'total', decimal_text(coalesce((SELECT sum(amount) FROM earnings WHERE user_id = u.id), 0)),
      'levels', (
        SELECT json_agg(json_build_object('level', level, 'total', decimal_text(total), 'count', count) ORDER BY level)
        FROM (
          SELECT l.level, coalesce(sum(e.amount), 0) AS total, count(e.id) AS count
          FROM (SELECT level FROM referral_rates
                UNION SELECT DISTINCT level FROM earnings WHERE user_id = u.id) l
          LEFT JOIN earnings e ON e.user_id = u.id AND e.level = l.level
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

/** A user's earning events after a seq, oldest first, each as its JSON text. */
export async function eventsAfter(sql: Sql, userId: number, after: number, limit: number): Promise<Array<{ seq: number; json: string }>> {
  return sql<Array<{ seq: number; json: string }>>`
    SELECT seq::int AS seq, event::text AS json FROM earning_events
    WHERE user_id = ${userId} AND seq > ${after}
    ORDER BY seq LIMIT ${limit}`;
}

/** The last seq committed for a user (0 before their first earning). */
export async function committedLastSeq(sql: Sql, userId: number): Promise<number> {
  const [counter] = await sql<{ lastSeq: string }[]>`SELECT last_seq AS "lastSeq" FROM earning_sequences WHERE user_id = ${userId}`;
  return Number(counter?.lastSeq ?? 0);
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
      'createdAt', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) AS user`;
  return row!.user;
}

export function unknownUser(userId: number): ApiError {
  return new ApiError(404, 'USER_NOT_FOUND', `there is no user ${userId}`);
}
