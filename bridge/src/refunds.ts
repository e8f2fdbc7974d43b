// Refunds through the API, and a purchase as it stands. The database does the
// work: its refunds trigger takes the commissions back, works out "whatever
// is left" when no amount is given, and refuses a refund that would exceed
// the purchase. This records one refund in one transaction, idempotently, and
// reads back what it did; the bridge passes money through as text.

import type { Queryable, Sql } from './db.js';
import { ProductError, unknownPurchase } from './errors.js';
import { retryingConflicts, type OnRetry } from './purchase-retries.js';

export interface RefundRequest {
  /** purchases.id, as digits (a bigint). */
  purchaseId: string;
  /** A decimal string; null refunds whatever is left of the purchase. */
  amount: string | null;
  reason: string | null;
  idempotencyKey: string | undefined;
}

export interface Reversal {
  earningId: number;
  reversesEarningId: number;
  userId: number;
  level: number;
  rate: string;
  /** Negative: the part of the credit taken back. */
  amount: string;
  seq: number;
}

/** What POST /api/purchases/:purchaseId/refunds answers: the refund and the reversals its trigger created. */
export interface RefundReceipt {
  refund: { id: number; purchaseId: number; amount: string; reason: string | null; createdAt: string; idempotencyKey: string | null };
  reversals: Reversal[];
}

export interface RefundOutcome {
  /** False when an earlier request with the same idempotency key is replayed. */
  created: boolean;
  receipt: RefundReceipt;
}

/**
 * Inserts a refund (its trigger writes the reversals) and reads back its
 * receipt, in one transaction. A repeat with the same Idempotency-Key gets
 * the first refund's receipt: same purchase and reason, and the same amount
 * or none. Requests with the same key take turns (an advisory lock on the
 * key), so a repeat never races its original into "nothing left to refund".
 */
export async function recordRefund(sql: Sql, request: RefundRequest): Promise<RefundOutcome> {
  return sql.begin(async (tx) => {
    const key = request.idempotencyKey;
    if (key !== undefined) {
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`refunds.idempotency_key ${key}`}, 0))`;
      const earlier = await replayOf(tx, request, key);
      if (earlier) return earlier;
    }
    const [inserted] = await tx<{ id: string }[]>`
      INSERT INTO refunds (purchase_id, amount, reason, idempotency_key)
      VALUES (${request.purchaseId}::bigint, ${request.amount}::numeric, ${request.reason}, ${key ?? null})
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id::text`;
    // Not inserted: the key was taken meanwhile by a refund inserted without the bridge.
    if (!inserted) return (await replayOf(tx, request, key!))!;
    return { created: true, receipt: await refundReceipt(tx, inserted.id) };
  });
}

/** One refund in its own transaction, run again after a deadlock or a serialization failure, as purchases are. */
export function recordRefundWithRetries(sql: Sql, request: RefundRequest, onRetry: OnRetry): Promise<RefundOutcome> {
  return retryingConflicts(() => recordRefund(sql, request), onRetry);
}

async function replayOf(tx: Queryable, request: RefundRequest, key: string): Promise<RefundOutcome | undefined> {
  const [earlier] = await tx<{ id: string; sameRequest: boolean }[]>`
    SELECT id::text,
           (purchase_id = ${request.purchaseId}::bigint
            AND reason IS NOT DISTINCT FROM ${request.reason}::text
            AND (${request.amount}::numeric IS NULL OR amount = ${request.amount}::numeric)) AS "sameRequest"
    FROM refunds WHERE idempotency_key = ${key}`;
  if (!earlier) return undefined;
  if (!earlier.sameRequest) {
    throw new ProductError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different refund; use a new key for a new refund');
  }
  return { created: false, receipt: await refundReceipt(tx, earlier.id) };
}

async function refundReceipt(sql: Queryable, refundId: string): Promise<RefundReceipt> {
  const [row] = await sql<{ receipt: RefundReceipt }[]>`
    SELECT ${receiptOfRefund(sql)} AS receipt FROM refunds r WHERE r.id = ${refundId}::bigint`;
  return row!.receipt;
}

/** The receipt of the refund aliased r, as JSON built by PostgreSQL. */
function receiptOfRefund(sql: Queryable) {
  return sql`json_build_object(
    'refund', json_build_object(
      'id', r.id,
      'purchaseId', r.purchase_id,
      'amount', decimal_text(r.amount),
      'reason', r.reason,
      'createdAt', iso_utc(r.created_at),
      'idempotencyKey', r.idempotency_key),
    'reversals', coalesce((
      SELECT json_agg(json_build_object(
               'earningId', e.id, 'reversesEarningId', e.reverses_earning_id, 'userId', e.user_id, 'level', e.level,
               'rate', trim_scale(e.rate)::text, 'amount', decimal_text(e.amount), 'seq', e.seq) ORDER BY e.level)
      FROM earnings e WHERE e.refund_id = r.id), '[]'))`;
}

/**
 * GET /api/purchases/:purchaseId: the purchase, what has been refunded and
 * what is left, its credits, and the receipt of each refund; one statement,
 * so all of it is read in one snapshot.
 */
export async function purchaseDetails(sql: Sql, purchaseId: string): Promise<unknown> {
  const [row] = await sql<{ details: unknown }[]>`
    SELECT json_build_object(
      'purchase', purchase_json(p),
      'refunded', decimal_text(coalesce(t.refunded, 0)),
      'leftToRefund', decimal_text(p.amount - coalesce(t.refunded, 0)),
      'earnings', coalesce((
        SELECT json_agg(json_build_object(
                 'earningId', e.id, 'userId', e.user_id, 'level', e.level,
                 'rate', trim_scale(e.rate)::text, 'amount', decimal_text(e.amount), 'seq', e.seq) ORDER BY e.level)
        FROM earnings e WHERE e.purchase_id = p.id AND e.refund_id IS NULL), '[]'),
      'refunds', coalesce((
        SELECT json_agg(${receiptOfRefund(sql)} ORDER BY r.id)
        FROM refunds r WHERE r.purchase_id = p.id), '[]')
    ) AS details
    FROM purchases p
    LEFT JOIN purchase_refund_totals t ON t.purchase_id = p.id
    WHERE p.id = ${purchaseId}::bigint`;
  if (!row) throw unknownPurchase(purchaseId);
  return row.details;
}
