// Groups HTTP purchases that arrive together into one call of
// record_purchases (ledger.ts): NOTIFY serialises commits, so one commit for
// many purchases raises the ceiling. Several batches run at once, each on
// its own connection, so a purchase waits only for the rows its own batch
// touches: a request that finds fewer than maxInFlight batches running
// starts one at once, with everything waiting; otherwise it waits and joins
// the batch that starts when one finishes. The database answers each
// request as if it were alone, refusing only the requests that are wrong,
// and a batch that PostgreSQL aborts for a deadlock or a serialization
// failure runs again (purchase-retries.ts).

import type { Sql } from './db.js';
import { ProductError } from './errors.js';
import { recordPurchases, type PurchaseOutcome, type PurchaseRequest } from './ledger.js';
import { retryingConflicts, type OnRetry } from './purchase-retries.js';

interface Waiting {
  request: PurchaseRequest;
  resolve(outcome: PurchaseOutcome): void;
  reject(error: unknown): void;
}

const maxBatch = 64;

export function createPurchaseBatcher(sql: Sql, options: {
  /** Batches running at once; each holds a pool connection, so keep it below the pool's size. */
  maxInFlight: number;
  onRetry: OnRetry;
}) {
  // Invariant: requests wait only while maxInFlight batches are running.
  const waiting: Waiting[] = [];
  let inFlight = 0;

  function startBatches(): void {
    while (inFlight < options.maxInFlight && waiting.length > 0) {
      inFlight += 1;
      void runBatch(waiting.splice(0, maxBatch)).finally(() => {
        inFlight -= 1;
        startBatches();
      });
    }
  }

  /** Settles every request of the batch; never rejects. */
  async function runBatch(batch: Waiting[]): Promise<void> {
    try {
      const outcomes = await retryingConflicts(() => recordPurchases(sql, batch.map((entry) => entry.request)), options.onRetry);
      outcomes.forEach((outcome, index) => {
        if (outcome instanceof ProductError) batch[index]!.reject(outcome);
        else batch[index]!.resolve(outcome);
      });
    } catch (error) {
      // A conflict that outlasted its retries, or anything else (a lost
      // connection, say, which may have struck after the commit: running
      // the batch again could record purchases twice): all fail alike.
      for (const entry of batch) entry.reject(error);
    }
  }

  return {
    record(request: PurchaseRequest): Promise<PurchaseOutcome> {
      return new Promise((resolve, reject) => {
        waiting.push({ request, resolve, reject });
        startBatches();
      });
    },
  };
}
