// Balances and payouts through the API. The database does the work: it
// computes each user's money by state (user_balance), creates payouts for
// what is available (create_payouts), and moves a payout to paid, failed or
// canceled, refusing any other move. This reads and calls; every amount is
// computed and formatted by PostgreSQL.

import type { Queryable, Sql } from './db.js';
import { unknownPayout, unknownUser } from './errors.js';
import type { PayoutStatus } from './payout-input.js';
import { retryingConflicts, type OnRetry } from './purchase-retries.js';

export interface Payout {
  id: number;
  userId: number;
  /** Whole cents. */
  amount: string;
  currency: string;
  status: PayoutStatus;
  reference: string | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  paidAt: string | null;
}

/** The payout aliased p, as the API shows it, as JSON built by PostgreSQL. */
function payoutJson(sql: Queryable) {
  return sql`json_build_object(
    'id', p.id,
    'userId', p.user_id,
    'amount', decimal_text(p.amount),
    'currency', p.currency,
    'status', p.status,
    'reference', p.reference,
    'reason', p.reason,
    'createdAt', iso_utc(p.created_at),
    'updatedAt', iso_utc(p.updated_at),
    'paidAt', iso_utc(p.paid_at))`;
}

/** GET /api/users/:userId/balance: the user's money by state, now; the four states add up to total. */
export async function balanceOf(sql: Sql, userId: number): Promise<unknown> {
  const [row] = await sql<{ balance: unknown }[]>`
    SELECT json_build_object(
      'userId', b.user_id,
      'currency', s.currency,
      'pending', decimal_text(b.pending),
      'available', decimal_text(b.available),
      'inPayout', decimal_text(b.in_payout),
      'paid', decimal_text(b.paid),
      'total', decimal_text(b.total),
      'nextAvailableAt', iso_utc(b.next_available_at),
      'asOf', iso_utc(ledger_now())
    ) AS balance
    FROM user_balance(${userId}) b CROSS JOIN program_settings s`;
  if (!row) throw unknownUser(userId);
  return row.balance;
}

/** A user's payouts, newest first. */
export async function payoutsOf(sql: Sql, userId: number, limit: number): Promise<Payout[]> {
  const rows = await sql<{ payout: Payout }[]>`
    SELECT ${payoutJson(sql)} AS payout FROM payouts p
    WHERE p.user_id = ${userId}
    ORDER BY p.id DESC LIMIT ${limit}`;
  return rows.map((row) => row.payout);
}

/** Every user's payouts after payout id `after`, oldest first; only those with `status` when given. */
export async function listPayouts(sql: Sql, page: { status: PayoutStatus | null; after: string; limit: number }): Promise<Payout[]> {
  const rows = await sql<{ payout: Payout }[]>`
    SELECT ${payoutJson(sql)} AS payout FROM payouts p
    WHERE p.id > ${page.after}::bigint ${page.status === null ? sql`` : sql`AND p.status = ${page.status}`}
    ORDER BY p.id LIMIT ${page.limit}`;
  return rows.map((row) => row.payout);
}

export async function payoutById(sql: Sql, payoutId: string): Promise<Payout> {
  const [row] = await sql<{ payout: Payout }[]>`SELECT ${payoutJson(sql)} AS payout FROM payouts p WHERE p.id = ${payoutId}::bigint`;
  if (!row) throw unknownPayout(payoutId);
  return row.payout;
}

/**
 * Runs create_payouts(): one payout per user whose available balance is at
 * least the minimum payout. Run again after a deadlock or a serialization
 * failure (nothing was committed); a repeat after a success finds that money
 * held already, so it never pays twice.
 */
export function createPayouts(sql: Sql, onRetry: OnRetry): Promise<Payout[]> {
  return retryingConflicts(async () => {
    const rows = await sql<{ payout: Payout }[]>`SELECT ${payoutJson(sql)} AS payout FROM create_payouts() p ORDER BY p.id`;
    return rows.map((row) => row.payout);
  }, onRetry);
}

export type Settlement =
  | { status: 'paid'; reference: string }
  | { status: 'failed' | 'canceled'; reason: string | null };

/**
 * Marks a pending payout paid, failed or canceled (the database refuses any
 * other move, and names an unknown payout); a repeat of the same move
 * returns the payout unchanged.
 */
export async function settlePayout(sql: Sql, payoutId: string, settlement: Settlement): Promise<Payout> {
  const settled = settlement.status === 'paid'
    ? sql`mark_payout_paid(${payoutId}::bigint, ${settlement.reference})`
    : settlement.status === 'failed'
      ? sql`mark_payout_failed(${payoutId}::bigint, ${settlement.reason}::text)`
      : sql`cancel_payout(${payoutId}::bigint, ${settlement.reason}::text)`;
  const [row] = await sql<{ payout: Payout }[]>`SELECT ${payoutJson(sql)} AS payout FROM ${settled} p`;
  return row!.payout;
}

/** The payouts created in a period of whole UTC days (both included), oldest first, with their users' names: for the CSV export. */
export async function payoutsForExport(sql: Sql, period: { from: string; to: string }, status: PayoutStatus | null) {
  return sql<Array<{ id: string; userId: number; userName: string | null; amount: string; currency: string; status: string; reference: string | null; createdAt: string }>>`
    SELECT p.id::text, p.user_id AS "userId", u.name AS "userName", decimal_text(p.amount) AS amount, p.currency,
           p.status, p.reference, iso_utc(p.created_at) AS "createdAt"
    FROM payouts p JOIN users u ON u.id = p.user_id
    WHERE p.created_at >= ${period.from}::date::timestamp AT TIME ZONE 'UTC'
      AND p.created_at < (${period.to}::date + 1)::timestamp AT TIME ZONE 'UTC'
      ${status === null ? sql`` : sql`AND p.status = ${status}`}
    ORDER BY p.id`;
}
