// Runs a purchase (or refund) transaction again when PostgreSQL aborted it
// for a deadlock (40P01) or a serialization failure (40001): nothing was
// committed, so the same transaction is safe to repeat. No other error is retried: a lost
// connection may have struck after the commit, and a repeat could record twice.

import type { Sql } from './db.js';
import { isTransactionConflict } from './database-errors.js';
import { recordPurchase, type PurchaseOutcome, type PurchaseRequest } from './ledger.js';

/** Attempts in all, the first included; then the conflict itself is the answer (503 TRANSACTION_CONFLICT). */
export const maxPurchaseAttempts = 4;

/** Told of each retry, with the SQLSTATE that caused it. */
export type OnRetry = (sqlState: string) => void;

/** 10–20 ms before the first retry, 20–40 ms before the second, …: jittered so that two victims do not collide again. */
const backoffMs = (retry: number) => 10 * 2 ** (retry - 1) * (1 + Math.random());

export async function retryingConflicts<T>(transaction: () => Promise<T>, onRetry: OnRetry): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction();
    } catch (error) {
      if (!isTransactionConflict(error) || attempt === maxPurchaseAttempts) throw error;
      onRetry((error as { code: string }).code);
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
    }
  }
}

/** One purchase in its own transaction, repeated after a conflict. */
export function recordPurchaseWithRetries(sql: Sql, request: PurchaseRequest, onRetry: OnRetry): Promise<PurchaseOutcome> {
  return retryingConflicts(() => recordPurchase(sql, request), onRetry);
}
