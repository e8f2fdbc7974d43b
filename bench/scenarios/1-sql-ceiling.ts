// What PostgreSQL itself does here: single-row INSERTs into a plain table
// (a), the same with a NOTIFY in each transaction (a+n: NOTIFY serialises
// commits), and into purchases with its trigger (b), from 1 to 50 connections,
// buyers spread over 1,000 referral chains. (b) is the ceiling the bridge's
// HTTP purchases are compared with.

import type postgres from 'postgres';
import { insertRate, readLedger, usersWithSeqGaps } from '../load.js';
import { rate, times } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

export const sqlCeiling: ScenarioDefinition = {
  title: 'SQL ceiling',
  perTransport: false,
  async run(bench) {
    const { db, fixture, seconds } = bench;
    await db.sql`CREATE TABLE IF NOT EXISTS bench_plain_purchases (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id integer NOT NULL, amount numeric NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(), idempotency_key text UNIQUE)`;
    let n = 0;
    const plainInsert = (sql: postgres.Sql) => sql`INSERT INTO bench_plain_purchases (user_id, amount) VALUES (${fixture.coldBuyer(n++)}, 1)`;
    const purchase = (sql: postgres.Sql) => sql`INSERT INTO purchases (user_id, amount) VALUES (${fixture.coldBuyer(n++)}, 1)`;
    // (a) with one NOTIFY in its transaction, as every purchase sends: what NOTIFY alone costs a commit.
    const notifyingInsert = (sql: postgres.Sql) => sql`
      WITH inserted AS (INSERT INTO bench_plain_purchases (user_id, amount) VALUES (${fixture.coldBuyer(n++)}, 1) RETURNING id)
      SELECT pg_notify('bench_plain_purchases', id::text) FROM inserted`;
    // A second of each first, unmeasured: the first load of a run otherwise pays for cold caches and plans.
    await insertRate(db.url, 1, 1, plainInsert);
    await insertRate(db.url, 1, 1, purchase);
    for (const connections of [1, 4, 10, 16, 50]) {
      const plain = await insertRate(db.url, connections, seconds, plainInsert);
      const notifying = await insertRate(db.url, connections, seconds, notifyingInsert);
      const real = await insertRate(db.url, connections, seconds, purchase);
      bench.ceiling.set(connections, real.perSecond);
      bench.record(`${connections} conn: plain table (a)`, [rate(plain.perSecond)]);
      bench.record(`${connections} conn: plain table and a NOTIFY (a+n), (a+n)/a`, [rate(notifying.perSecond), times(notifying.perSecond / plain.perSecond)]);
      bench.record(`${connections} conn: purchases + trigger (b), b/a`, [rate(real.perSecond), times(real.perSecond / plain.perSecond)]);
    }
    const ledger = await readLedger(db.sql);
    const gapped = await usersWithSeqGaps(db.sql);
    bench.check(ledger.notCreditedTwice === 0 && gapped === 0,
      `every purchase credited exactly twice, every seq gap-free (of ${ledger.purchases}: ${ledger.notCreditedTwice} not credited twice; ${gapped} users with gaps)`);
  },
};
