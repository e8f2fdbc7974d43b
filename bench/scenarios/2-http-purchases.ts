// POST /api/purchase under autocannon at 1, 10 and 50 connections, with each
// purchase in its own call and with concurrent ones grouped into one
// (PURCHASE_BATCHING), buyers spread over separate referrers; then grouped
// with every buyer under one hot referrer. Each answered request must be one
// purchase, credited twice.

import autocannon from 'autocannon';
import { lastPurchaseId, settledLedger } from '../load.js';
import { millis, percent, rate, times } from '../report.js';
import type { ScenarioDefinition } from '../runner.js';

export const httpPurchases: ScenarioDefinition = {
  title: 'HTTP purchases',
  perTransport: true,
  async run(bench, grouping) {
    const { db, fixture, seconds } = bench;
    const perSecond = new Map<string, number>();
    let k = 0;
    const modes = [
      { name: 'one tx each', bridge: await bench.startBridge({ PURCHASE_BATCHING: 'false' }), buyer: fixture.coldBuyer },
      { name: 'grouped', bridge: grouping, buyer: fixture.coldBuyer },
      { name: 'grouped, hot referrer', bridge: grouping, buyer: fixture.buyer },
    ];
    for (const { name, bridge, buyer } of modes) {
      for (const connections of [1, 10, 50]) {
        const before = await lastPurchaseId(db.sql);
        const result = await autocannon({
          url: `${bridge.http}/api/purchase`, connections, duration: seconds,
          requests: [{
            method: 'POST', headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: JSON.stringify({ userId: buyer(k++), amount: '1.00' }) }),
          }],
        });
        // Requests still in flight when autocannon stops are recorded but not counted as answered.
        const ledger = await settledLedger(db.sql, before);
        bench.check(result.errors === 0 && result.non2xx === 0 && ledger.purchases >= result['2xx'] && ledger.purchases - result['2xx'] <= connections,
          `${name}, ${connections} conn: every answered request is one purchase (${result['2xx']} answered 2xx, ${result.non2xx} not, ${result.errors} errors; ${ledger.purchases} inserted)`);
        bench.check(ledger.notCreditedTwice === 0, `${name}, ${connections} conn: every purchase credited twice (${ledger.notCreditedTwice} of ${ledger.purchases} not)`);
        perSecond.set(`${name}/${connections}`, result.requests.average);
        const ceiling = bench.ceiling.get(connections);
        bench.record(`${name}, ${connections} conn: req/s, p50, p99`, [rate(result.requests.average), millis(result.latency.p50, 0), millis(result.latency.p99, 0)],
          ceiling ? `${((result.requests.average / ceiling) * 100).toFixed(0)}% of 1(b)` : '');
      }
    }
    const ratio = (a: string, b: string, connections: number) =>
      (perSecond.get(`${a}/${connections}`) ?? Number.NaN) / (perSecond.get(`${b}/${connections}`) ?? Number.NaN);
    for (const connections of [10, 50]) {
      bench.record(`grouping's gain at ${connections} conn`, [percent(ratio('grouped', 'one tx each', connections) * 100 - 100)]);
    }
    for (const connections of [1, 10, 50]) {
      bench.record(`hot referrer/separate referrers, grouped, ${connections} conn: req/s`, [times(ratio('grouped, hot referrer', 'grouped', connections))]);
    }
  },
};
