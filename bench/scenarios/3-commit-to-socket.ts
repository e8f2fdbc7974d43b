// How long an earning takes from its purchase's commit (acknowledged to the
// client) to a subscriber's socket, one purchase at a time, made with plain
// SQL or over HTTP: idle, then under half the SQL ceiling's load of other
// users' purchases. The subscriber must get each event once, in order.

import { performance } from 'node:perf_hooks';
import { settleWithin } from '../../bridge/src/settle.js';
import { insertRate, percentile, steadyPurchases } from '../load.js';
import { millis, rate } from '../report.js';
import type { Bench, ScenarioDefinition } from '../runner.js';

/** Half the highest SQL ceiling 1(b); when scenario 1 did not run, measured here once (at 10 connections) for every transport. */
async function halfLoad(bench: Bench): Promise<number> {
  if (bench.ceiling.size === 0) {
    let n = 0;
    const run = await insertRate(bench.db.url, 10, bench.seconds, (sql) => sql`
      INSERT INTO purchases (user_id, amount) VALUES (${bench.fixture.coldBuyer(n++)}, 1)`);
    bench.ceiling.set(10, run.perSecond);
  }
  return Math.max(...bench.ceiling.values()) / 2;
}

export const commitToSocket: ScenarioDefinition = {
  title: 'commit to socket',
  perTransport: true,
  async run(bench, bridge) {
    const { db, fixture } = bench;
    let arrived: () => void = () => undefined;
    const watcher = await bench.subscribe(bridge, fixture.hot, { onEvent: () => arrived() });
    const { tally } = watcher;
    const background = await halfLoad(bench);
    let sent = 0;
    for (const load of ['idle', '50% load'] as const) {
      const others = load === 'idle' ? undefined : steadyPurchases(db.url, background, fixture.coldBuyer);
      if (others) bench.defer(() => others.stop());
      for (const path of ['SQL', 'HTTP'] as const) {
        const latencies: number[] = [];
        // The event can reach the socket before the client has read the commit's acknowledgement.
        let beforeAcknowledgement = 0;
        for (let i = 0; i < (bench.full ? 1000 : 200); i++) {
          const arrival = new Promise<void>((resolve) => (arrived = resolve));
          if (path === 'SQL') await db.sql`INSERT INTO purchases (user_id, amount) VALUES (${fixture.buyer(i)}, 1)`;
          else {
            const response = await fetch(`${bridge.http}/api/purchase`, {
              method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: fixture.buyer(i), amount: 1 }),
            });
            const body = await response.text();
            bench.check(response.status === 201, `${load}: HTTP purchase ${i} answered ${response.status} ${body}`);
          }
          const committed = performance.now();
          sent += 1;
          await settleWithin(arrival, 5000);
          if (!bench.check(tally.received === sent, `${load}, ${path}: event ${i} delivered within 5 s`)) break;
          const latency = tally.lastEventAt - committed;
          if (latency < 0) beforeAcknowledgement += 1;
          latencies.push(Math.max(0, latency));
        }
        bench.record(`${load}, ${path}: p50, p99, max`, [millis(percentile(latencies, 50)), millis(percentile(latencies, 99)), millis(Math.max(...latencies))],
          `from the commit's acknowledgement; ${beforeAcknowledgement} of ${latencies.length} arrived before it (counted as 0)`);
      }
      const achieved = await others?.stop();
      if (achieved !== undefined) bench.record('50% load: other users\' purchases achieved', [rate(achieved)], `of ${background.toFixed(0)}/s asked`);
    }
    bench.check(watcher.receivedExactly(sent), `every event once, in order (${sent} sent; ${tally.received} received in order, ${tally.repeated} repeated, ${tally.skipped} skipped)`);
  },
};
