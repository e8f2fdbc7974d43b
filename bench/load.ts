// The loads scenarios put on the database, and what they read back: every
// load is bounded in time, and targets only the bench's own database.

import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { onlyRow } from '../test/support/rows.js';
import { waitFor } from '../test/support/wait.js';

const openPools = (url: string, connections: number) =>
  Array.from({ length: connections }, () => postgres(url, { max: 1, onnotice: () => undefined }));

export interface InsertRun {
  perSecond: number;
  latencies: number[];
}

/** Runs `insert` back to back on each of `connections` connections for `seconds`. */
export async function insertRate(url: string, connections: number, seconds: number, insert: (sql: postgres.Sql) => Promise<unknown>): Promise<InsertRun> {
  const pools = openPools(url, connections);
  try {
    await Promise.all(pools.map((sql) => sql`SELECT 1`));
    const latencies: number[] = [];
    const started = performance.now();
    const until = started + seconds * 1000;
    await Promise.all(pools.map(async (sql) => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await insert(sql);
        latencies.push(performance.now() - t0);
      }
    }));
    return { perSecond: latencies.length / ((performance.now() - started) / 1000), latencies };
  } finally {
    await Promise.all(pools.map((sql) => sql.end()));
  }
}

/** Purchases by `buyerOf(i)` at a steady rate from 4 connections until stopped; stop() (once or more) resolves with the rate achieved. */
export function steadyPurchases(url: string, perSecond: number, buyerOf: (i: number) => number): { stop(): Promise<number> } {
  const pools = openPools(url, 4);
  const interval = (1000 * pools.length) / perSecond;
  let running = true;
  let count = 0;
  const started = performance.now();
  const lanes = pools.map(async (sql) => {
    let next = performance.now();
    while (running) {
      await sql`INSERT INTO purchases (user_id, amount) VALUES (${buyerOf(count++)}, 1)`;
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  });
  let stopped: Promise<number> | undefined;
  const stop = async () => {
    running = false;
    await Promise.all(lanes);
    await Promise.all(pools.map((sql) => sql.end()));
    return count / ((performance.now() - started) / 1000);
  };
  return { stop: () => (stopped ??= stop()) };
}

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

/** Whether `probe` holds within `timeoutMs` (polled every 20 ms). */
export const holdsWithin = (description: string, timeoutMs: number, probe: () => boolean | Promise<boolean>) =>
  waitFor(description, probe, timeoutMs).then(() => true, () => false);

export interface Ledger {
  purchases: number;
  /** Purchases with other than two earnings (every bench buyer has two referrers). */
  notCreditedTwice: number;
}

/** The purchases with an id above `afterPurchaseId` (all by default), and how they were credited. */
export async function readLedger(sql: postgres.Sql, afterPurchaseId = 0): Promise<Ledger> {
  return onlyRow(await sql<Ledger[]>`
    SELECT count(*)::int AS purchases, count(*) FILTER (WHERE credits <> 2)::int AS "notCreditedTwice"
    FROM (SELECT count(e.id) AS credits FROM purchases p LEFT JOIN earnings e ON e.purchase_id = p.id
          WHERE p.id > ${afterPurchaseId} GROUP BY p.id) per_purchase`);
}

/** The ledger once purchases still in flight when a load stopped have landed: two reads 200 ms apart agree (5 s at most). */
export async function settledLedger(sql: postgres.Sql, afterPurchaseId: number): Promise<Ledger> {
  let ledger = await readLedger(sql, afterPurchaseId);
  for (let waited = 0; waited < 5000; waited += 200) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = await readLedger(sql, afterPurchaseId);
    if (next.purchases === ledger.purchases) return next;
    ledger = next;
  }
  return ledger;
}

/** How many users (of `userIds`, or all) have seqs other than exactly 1…n. */
export async function usersWithSeqGaps(sql: postgres.Sql, userIds?: number[]): Promise<number> {
  return onlyRow(await sql<{ count: number }[]>`
    SELECT count(*)::int AS count FROM (
      SELECT user_id FROM earnings WHERE ${userIds === undefined} OR user_id = ANY(${userIds ?? []}::int[]) GROUP BY user_id
      HAVING count(*) <> max(seq) OR count(DISTINCT seq) <> count(*)) gapped`).count;
}

export const lastPurchaseId = async (sql: postgres.Sql) =>
  onlyRow(await sql<{ id: number }[]>`SELECT coalesce(max(id), 0)::int AS id FROM purchases`).id;
