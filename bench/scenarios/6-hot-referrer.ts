// Plain SQL purchases at 1, 10 and 50 connections, every buyer under one
// referrer shared by all (1,000 referees of hot) against 1,000 separate
// referrers: each credit holds its user's seq counter until commit, which
// is what keeps seq gap-free and commit-ordered, so a hot referrer's
// purchases commit one at a time. (Scenario 2 has the same over HTTP,
// where a batch takes the counter once for all its purchases.)

import { insertRate, percentile, usersWithSeqGaps } from '../load.js';
import { millis, rate, times } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

export const hotReferrer: ScenarioDefinition = {
  title: 'hot referrer',
  perTransport: false,
  async run(bench) {
    const { db, fixture, seconds } = bench;
    let i = 0;
    let j = 0;
    for (const connections of [1, 10, 50]) {
      const hot = await insertRate(db.url, connections, seconds, (sql) => sql`INSERT INTO purchases (user_id, amount) VALUES (${fixture.buyer(i++)}, 1)`);
      const cold = await insertRate(db.url, connections, seconds, (sql) => sql`INSERT INTO purchases (user_id, amount) VALUES (${fixture.coldBuyer(j++)}, 1)`);
      bench.record(`${connections} conn, one shared referrer: /s, p99`, [rate(hot.perSecond), millis(percentile(hot.latencies, 99))]);
      bench.record(`${connections} conn, 1,000 separate referrers: /s, p99`, [rate(cold.perSecond), millis(percentile(cold.latencies, 99))]);
      bench.record(`${connections} conn, shared/separate rate`, [times(hot.perSecond / cold.perSecond)]);
    }
    const gapped = await usersWithSeqGaps(db.sql, [fixture.hot, fixture.root, ...fixture.coldReferrers]);
    bench.check(gapped === 0, `the hot referrer's, its root's and the separate referrers' seqs are gap-free (${gapped} users with gaps)`);
  },
};
