// Where a purchase's time goes inside PostgreSQL, without the network or the
// commit: single-row INSERTs under EXPLAIN (ANALYZE), 300 into a plain table
// (a) and 300 into purchases (b) crediting two levels, with each function's
// own time from track_functions; all in one transaction that is rolled back,
// so the ledger keeps nothing of it. Then the floor of live delivery: a raw
// NOTIFY's round trip from one session to another that LISTENs.

import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { percentile } from '../load.js';
import { millis } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

interface ExplainedInsert {
  'Execution Time': number;
  Triggers?: Array<{ 'Trigger Name': string; Time: number; Calls: number }>;
}

const statements = 300;
const median = (values: number[]) => percentile(values, 50);

export const insidePostgres: ScenarioDefinition = {
  title: 'inside PostgreSQL',
  perTransport: false,
  async run(bench) {
    const { db, fixture } = bench;
    await db.sql`CREATE TABLE IF NOT EXISTS bench_plain_purchases (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id integer NOT NULL, amount numeric NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), idempotency_key text UNIQUE)`;
    const session = postgres(db.url, { max: 1, onnotice: () => undefined });
    bench.defer(() => session.end());
    const rolledBack = new Error('rolled back: measured, not kept');
    let plain: number[] = [];
    let purchase: number[] = [];
    const triggers = new Map<string, number[]>();
    let functions: Array<{ name: string; calls: number; selfMs: number; totalMs: number }> = [];
    await session.begin(async (sql) => {
      await sql`SET LOCAL track_functions = 'all'`;
      const explain = async (insert: string, buyer: number) =>
        (await sql.unsafe<Array<{ 'QUERY PLAN': ExplainedInsert[] }>>(`EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) ${insert}`, [buyer]))[0]!['QUERY PLAN'][0]!;
      for (let i = 0; i < statements; i++) {
        plain.push((await explain('INSERT INTO bench_plain_purchases (user_id, amount) VALUES ($1, 1)', fixture.coldBuyer(i)))['Execution Time']);
        const explained = await explain('INSERT INTO purchases (user_id, amount) VALUES ($1, 1)', fixture.coldBuyer(i));
        purchase.push(explained['Execution Time']);
        for (const trigger of explained.Triggers ?? []) {
          triggers.set(trigger['Trigger Name'], [...(triggers.get(trigger['Trigger Name']) ?? []), trigger.Time / trigger.Calls]);
        }
      }
      functions = await sql`
        SELECT funcname AS name, calls::int, self_time / calls AS "selfMs", total_time / calls AS "totalMs"
        FROM pg_stat_xact_user_functions ORDER BY total_time DESC`;
      throw rolledBack;
    }).catch((error: unknown) => {
      if (error !== rolledBack) throw error;
    });

    bench.record('plain INSERT (a): p50', [millis(median(plain), 3)]);
    bench.record('purchase INSERT (b), two credits: p50', [millis(median(purchase), 3)], `b − a ${(median(purchase) - median(plain)).toFixed(3)} ms`);
    for (const [name, times] of triggers) bench.record(`trigger ${name}: p50 per call`, [millis(median(times), 3)]);
    for (const { name, calls, selfMs, totalMs } of functions) {
      bench.record(`function ${name}: self, with what it calls`, [millis(selfMs, 3), millis(totalMs, 3)], `${calls} calls, track_functions`);
    }
    bench.check(purchase.length === statements && triggers.size > 0, `${statements} purchases explained with their triggers`);

    // The floor for commit-to-socket: NOTIFY acknowledged to a LISTEN callback.
    const listener = postgres(db.url, { max: 1, onnotice: () => undefined });
    const notifier = postgres(db.url, { max: 1, onnotice: () => undefined });
    bench.defer(() => Promise.all([listener.end(), notifier.end()]));
    let heard: (() => void) | undefined;
    await listener.listen('bench_round_trip', () => heard?.());
    const fromSent: number[] = [];
    const fromAcknowledged: number[] = [];
    for (let i = 0; i < (bench.full ? 1000 : 300); i++) {
      const arrival = new Promise<number>((resolve) => (heard = () => resolve(performance.now())));
      const sent = performance.now();
      await notifier`SELECT pg_notify('bench_round_trip', ${String(i)})`;
      const acknowledged = performance.now();
      const heardAt = await arrival;
      fromSent.push(heardAt - sent);
      fromAcknowledged.push(heardAt - acknowledged);
    }
    const p50p99 = (values: number[]) => [millis(percentile(values, 50), 3), millis(percentile(values, 99), 3)];
    bench.record('raw NOTIFY, sent to heard: p50, p99', p50p99(fromSent));
    bench.record('raw NOTIFY, acknowledged to heard: p50, p99', p50p99(fromAcknowledged), 'the floor of 3 (commit to socket), measured alike');
    bench.check(fromSent.length > 0, 'raw NOTIFY round trips measured');
  },
};
