// Groups HTTP purchases that arrive together into one transaction: NOTIFY
// serialises commits, so one commit for many purchases raises the ceiling.
// No request waits for company: a batch starts as soon as the previous one is
// done, with whatever has arrived meanwhile. Each request still gets exactly
// the answer it would have got alone (see recordPurchases).

import type { Sql } from './db.js';
import { ApiError } from './http/api-error.js';
import { recordPurchase, recordPurchases, type PurchaseOutcome, type PurchaseRequest } from './ledger.js';

interface Waiting {
  request: PurchaseRequest;
  resolve(outcome: PurchaseOutcome): void;
  reject(error: unknown): void;
}

const maxBatch = 64;

/**
 * Errors the database raises while running the statement, which roll the
 * whole transaction back: bad data (class 22), a broken rule (class 23), a
 * deadlock or serialization failure (40P01, 40001).
 */
function refusedBeforeCommit(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (/^2[23]/.test(code) || code === '40P01' || code === '40001');
}

export function createPurchaseBatcher(sql: Sql) {
  const waiting: Waiting[] = [];
  let flushing = false;

  async function flush(): Promise<void> {
    flushing = true;
    while (waiting.length > 0) {
      const batch = waiting.splice(0, maxBatch);
      try {
        const outcomes = await recordPurchases(sql, batch.map((entry) => entry.request));
        outcomes.forEach((outcome, index) => {
          if (outcome instanceof ApiError) batch[index]!.reject(outcome);
          else batch[index]!.resolve(outcome);
        });
      } catch (error) {
        if (batch.length === 1 || !refusedBeforeCommit(error)) {
          // Anything else (a lost connection, say) may have struck after the
          // commit: retrying could record purchases twice, so all fail.
          for (const entry of batch) entry.reject(error);
          continue;
        }
        // A request the database refuses fails the whole statement: record
        // each alone, so that each gets its own answer.
        await Promise.all(batch.map((entry) => recordPurchase(sql, entry.request).then(entry.resolve, entry.reject)));
      }
    }
    flushing = false;
  }

  return {
    record(request: PurchaseRequest): Promise<PurchaseOutcome> {
      return new Promise((resolve, reject) => {
        waiting.push({ request, resolve, reject });
        if (!flushing) void flush();
      });
    },
  };
}
