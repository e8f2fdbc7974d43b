// Helpers for the commission lifecycle's tests: the program's settings, the
// ledger's clock, balances and payouts, every amount as the API writes it
// (decimal_text), so that tests compare exact text and never do arithmetic.

import type postgres from 'postgres';
import type { Sql } from './database.js';
import { onlyRow } from './rows.js';

type Queryable = Sql | postgres.TransactionSql;

export interface ProgramSettings {
  holdingPeriod: string;
  minimumPayout: string;
  minimumPurchaseAmount: string;
  currency: string;
}

const productionDefaults: ProgramSettings = { holdingPeriod: '30 days', minimumPayout: '50.00', minimumPurchaseAmount: '0', currency: '' };

/** Sets every setting: those given, the rest to the production defaults. */
export async function setSettings(sql: Sql, settings: Partial<ProgramSettings> = {}): Promise<void> {
  const { holdingPeriod, minimumPayout, minimumPurchaseAmount, currency } = { ...productionDefaults, ...settings };
  await sql`
    UPDATE program_settings SET holding_period = ${holdingPeriod}::interval, minimum_payout = ${minimumPayout}::numeric,
      minimum_purchase_amount = ${minimumPurchaseAmount}::numeric, currency = ${currency}`;
}

/** Runs `use` in one transaction whose ledger clock (ledger_now(), set through referrals.now) reads `moment`. */
export async function atMoment<T>(sql: Sql, moment: string, use: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`SELECT set_config('referrals.now', ${moment}, true)`;
    return use(tx);
  }) as Promise<T>;
}

export interface Balance {
  pending: string;
  available: string;
  inPayout: string;
  paid: string;
  total: string;
}

/** A user's money by state, now (or at the moment the transaction's clock says). */
export async function balanceOf(sql: Queryable, userId: number): Promise<Balance> {
  return onlyRow(await sql<Balance[]>`
    SELECT decimal_text(pending) AS pending, decimal_text(available) AS available, decimal_text(in_payout) AS "inPayout",
           decimal_text(paid) AS paid, decimal_text(total) AS total
    FROM user_balance(${userId})`);
}

export interface PayoutRow {
  id: string;
  userId: number;
  amount: string;
  status: string;
}

/** Runs create_payouts(); returns the payouts it created for `users` (every user's when omitted). */
export async function createPayouts(sql: Queryable, users?: number[]): Promise<PayoutRow[]> {
  const created = await sql<PayoutRow[]>`
    SELECT id::text, user_id AS "userId", decimal_text(amount) AS amount, status FROM create_payouts() ORDER BY id`;
  return users ? created.filter((payout) => users.includes(payout.userId)) : created;
}

/** A user's payouts, oldest first. */
export async function payoutsOf(sql: Queryable, userId: number): Promise<PayoutRow[]> {
  return sql<PayoutRow[]>`
    SELECT id::text, user_id AS "userId", decimal_text(amount) AS amount, status FROM payouts WHERE user_id = ${userId} ORDER BY id`;
}

/** Inserts a refund with plain SQL (amount null: whatever is left); returns its id. */
export async function refund(sql: Queryable, purchaseId: string, amount: string | null): Promise<string> {
  return onlyRow(await sql<{ id: string }[]>`
    INSERT INTO refunds (purchase_id, amount) VALUES (${purchaseId}, ${amount}) RETURNING id::text`).id;
}

/** The moment a purchase's credit to `userId` becomes available, as PostgreSQL writes it (microseconds kept). */
export async function availableAtOf(sql: Queryable, purchaseId: string, userId: number): Promise<{ createdAt: string; availableAt: string }> {
  return onlyRow(await sql<{ createdAt: string; availableAt: string }[]>`
    SELECT created_at::text AS "createdAt", available_at::text AS "availableAt"
    FROM earnings WHERE purchase_id = ${purchaseId} AND user_id = ${userId} AND refund_id IS NULL`);
}

/** `moment` moved by `by` (such as '-1 microsecond' or '30 days'), as PostgreSQL writes it (passed as text: postgres.js would round a timestamptz parameter to milliseconds). */
export async function shifted(sql: Queryable, moment: string, by: string): Promise<string> {
  return onlyRow(await sql<{ moment: string }[]>`SELECT (${moment}::text::timestamptz + ${by}::interval)::text AS moment`).moment;
}
