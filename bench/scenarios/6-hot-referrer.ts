// One referrer shared by every buyer (1,000 referees of hot) against 1,000
// separate referrers, at 50 connections: each credit holds its user's seq
// counter until commit, which is what keeps seq gap-free and commit-ordered.

import { insertRate, percentile, usersWithSeqGaps } from '../load.js';
import { millis, rate, times } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

export const hotReferrer: ScenarioDefinition = {
  title: 'hot referrer',
  perTransport: false,
  async run(bench) {
    const { db, fixture, seconds } = bench;
    let i = 0;
    const hot = await insertRate(db.url, 50, seconds, (sql) => sql`INSERT INTO purchases (user_id, amount) VALUES (${fixture.buyer(i++)}, 1)`);
    let j = 0;
    const cold = await insertRate(db.url, 50, seconds, (sql) => sql`INSERT INTO purchases (user_id, amount) VALUES (${fixture.coldBuyer(j++)}, 1)`);
    bench.record('one shared referrer: /s, p99', [rate(hot.perSecond), millis(percentile(hot.latencies, 99))]);
    bench.record('1,000 separate referrers: /s, p99', [rate(cold.perSecond), millis(percentile(cold.latencies, 99))]);
    bench.record('shared/separate rate', [times(hot.perSecond / cold.perSecond)]);
    const gapped = await usersWithSeqGaps(db.sql, [fixture.hot, fixture.root, ...fixture.coldReferrers]);
    bench.check(gapped === 0, `the hot referrer's, its root's and the separate referrers' seqs are gap-free (${gapped} users with gaps)`);
  },
};
