// Groups HTTP purchases that arrive together into one call of
// record_purchases (ledger.ts): NOTIFY serialises commits, so one commit for
// many purchases raises the ceiling. A request that finds fewer than two
// batches running starts one at once, with everything waiting; otherwise it
// waits and joins the batch that starts when one finishes, so that under
// load each commit carries many purchases. A batch still running after
// patienceMs is probably waiting for a row lock: then more start, up to
// maxInFlight, each on its own connection, so a purchase waits only for the
// rows its own batch touches. The database answers each request as if it
// were alone, refusing only the requests that are wrong, and a batch that
// PostgreSQL aborts for a deadlock or a serialization failure runs again
// (purchase-retries.ts).

import { performance } from 'node:perf_hooks';
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

/** Batches that start at once, whatever the others are doing. */
const eagerBatches = 2;

export function createPurchaseBatcher(sql: Sql, options: {
  /** Batches running at once at most; each holds a pool connection, so keep it below the pool's size. */
  maxInFlight: number;
  /** How long the batches running may take before more start beside them. */
  patienceMs?: number;
  onRetry: OnRetry;
}) {
  const patienceMs = options.patienceMs ?? 100;
  // Invariant: requests wait only while min(eagerBatches, maxInFlight)
  // batches run, or while maxInFlight do, once the oldest has run patienceMs.
  const waiting: Waiting[] = [];
  /** The batches running, by when each started. */
  const running = new Set<{ startedAt: number }>();
  let patienceTimer: NodeJS.Timeout | undefined;

  function startBatches(): void {
    while (waiting.length > 0 && running.size < limitNow()) {
      const batch = { startedAt: performance.now() };
      running.add(batch);
      void runBatch(waiting.splice(0, maxBatch)).finally(() => {
        running.delete(batch);
        startBatches();
      });
    }
    if (waiting.length > 0 && running.size < options.maxInFlight && !patienceTimer) {
      patienceTimer = setTimeout(() => {
        patienceTimer = undefined;
        startBatches();
      }, Math.max(0, oldestStart() + patienceMs - performance.now()));
    }
  }

  const oldestStart = () => Math.min(...[...running].map((batch) => batch.startedAt));

  function limitNow(): number {
    const patienceRunOut = running.size > 0 && performance.now() - oldestStart() >= patienceMs;
    return patienceRunOut ? options.maxInFlight : Math.min(eagerBatches, options.maxInFlight);
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
