// Groups HTTP purchases that arrive together into one transaction: NOTIFY
// serialises commits, so one commit for many purchases raises the ceiling.
// Several batches run at once, each on its own connection, so a purchase waits
// only for the rows its own batch touches: a request that finds fewer than
// maxInFlight batches running starts one at once, with everything waiting;
// otherwise it waits and joins the batch that starts when one finishes. Each
// request still gets exactly the answer it would have got alone (see
// recordPurchases), and a batch that PostgreSQL aborts for a deadlock or a
// serialization failure runs again (purchase-retries.ts).

import type { Sql } from './db.js';
import { ProductError } from './errors.js';
import { recordPurchases, type PurchaseOutcome, type PurchaseRequest } from './ledger.js';
import { recordPurchaseWithRetries, retryingConflicts, type OnRetry } from './purchase-retries.js';

interface Waiting {
  request: PurchaseRequest;
  resolve(outcome: PurchaseOutcome): void;
  reject(error: unknown): void;
}

const maxBatch = 64;

/** Bad data (class 22) or a broken rule (class 23): one request fails the whole statement, before any commit. */
function refusedForItsData(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

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
      if (batch.length === 1 || !refusedForItsData(error)) {
        // A conflict that outlasted its retries, or anything else (a lost
        // connection, say, which may have struck after the commit: running
        // the batch again could record purchases twice): all fail.
        for (const entry of batch) entry.reject(error);
        return;
      }
      // Record each alone, so that each gets its own answer.
      await Promise.all(batch.map((entry) =>
        recordPurchaseWithRetries(sql, entry.request, options.onRetry).then(entry.resolve, entry.reject)));
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
