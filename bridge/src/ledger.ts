// The database operations behind the HTTP API. Every amount is computed and
// formatted by PostgreSQL (decimal_text): the bridge passes money through as
// text and never does arithmetic on it.

import type { Queryable, Sql } from './db.js';
import { ProductError, unknownUser } from './errors.js';

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
  const [outcome] = await recordPurchases(sql, [request]);
  if (outcome instanceof ProductError) throw outcome;
  return outcome!;
}

/**
 * Inserts several purchases in one statement and one transaction (so the
 * trigger runs, and NOTIFY commits, once for all), and answers each as if it
 * had been recorded alone: its receipt, the receipt of an earlier purchase
 * with the same Idempotency-Key, or IDEMPOTENCY_KEY_REUSED when that key was used for another
 * purchase. A request the database refuses fails the whole statement: the
 * caller then records the requests one by one to give each its own answer.
 */
export async function recordPurchases(sql: Sql, requests: PurchaseRequest[]): Promise<Array<PurchaseOutcome | ProductError>> {
  return sql.begin(async (tx) => {
    const ids = (await tx<{ id: string }[]>`
      SELECT nextval(pg_get_serial_sequence('purchases', 'id'))::text AS id FROM generate_series(1, ${requests.length})`).map((row) => row.id);
    const inserted = new Set((await tx<{ id: string }[]>`
      INSERT INTO purchases (id, user_id, amount, idempotency_key)
      SELECT * FROM unnest(${ids}::bigint[], ${requests.map((request) => request.userId)}::int[],
                           ${requests.map((request) => request.amount)}::numeric[],
                           ${requests.map((request) => request.idempotencyKey ?? null)}::text[])
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id::text`).map((row) => row.id));

    // Requests whose key was taken: by an earlier purchase, or by one above.
    const replays = requests.flatMap((request, index) => (inserted.has(ids[index]!) ? [] : [{ request, index }]));
    const earlier = new Map<number, { id: string; sameRequest: boolean }>();
    for (const { request, index } of replays) {
      const [row] = await tx<{ id: string; sameRequest: boolean }[]>`
        SELECT id::text, (user_id = ${request.userId} AND amount = ${request.amount}::numeric) AS "sameRequest"
        FROM purchases WHERE idempotency_key = ${request.idempotencyKey ?? null}`;
      earlier.set(index, row!);
    }

    const receipts = await purchaseReceipts(tx, [...inserted, ...[...earlier.values()].map((row) => row.id)]);
    return requests.map((_, index) => {
      if (inserted.has(ids[index]!)) return { created: true, receipt: receipts.get(ids[index]!)! };
      const replay = earlier.get(index)!;
      return replay.sameRequest
        ? { created: false, receipt: receipts.get(replay.id)! }
        : new ProductError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different purchase; use a new key for a new purchase');
    });
  });
}

/** The purchase aliased p, as the API shows it, as JSON built by PostgreSQL. */
export function purchaseJson(sql: Queryable) {
  return sql`json_build_object(
    'id', p.id,
    'userId', p.user_id,
    'amount', decimal_text(p.amount),
    'createdAt', iso_utc(p.created_at),
    'idempotencyKey', p.idempotency_key)`;
}

async function purchaseReceipts(sql: Queryable, purchaseIds: string[]): Promise<Map<string, PurchaseReceipt>> {
  const rows = await sql<{ id: string; receipt: PurchaseReceipt }[]>`
    SELECT p.id::text, json_build_object(
      'purchase', ${purchaseJson(sql)},
      'earnings', coalesce((
        SELECT json_agg(json_build_object(
                 'userId', e.user_id, 'level', e.level, 'rate', trim_scale(e.rate)::text,
                 'amount', decimal_text(e.amount), 'seq', e.seq) ORDER BY e.level)
        FROM earnings e WHERE e.purchase_id = p.id AND e.refund_id IS NULL), '[]')
    ) AS receipt
    FROM purchases p WHERE p.id = ANY(${purchaseIds}::bigint[])`;
  return new Map(rows.map((row) => [row.id, row.receipt]));
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
